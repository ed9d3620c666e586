import { z } from 'zod';
import { evaluateExpression, expressionProblem } from '../expressions/step-expressions.ts';
import { evaluateTemplate, templateData } from './template.ts';
import type { StepExecutor } from './types.ts';

export const transformStepConfig = z
  .object({
    /** Any JSON value; its strings are rendered as templates. */
    template: z.unknown().optional(),
    /** A JSONata expression over `input`, `steps` and `execution` whose value is the output. Instead of `template`. */
    expression: z.string().min(1).optional(),
  })
  .superRefine((config, ctx) => {
    if (config.expression === undefined) {
      if (config.template === undefined)
        ctx.addIssue({ code: 'custom', path: ['template'], message: 'is required unless there is an expression' });
      return;
    }
    if (config.template !== undefined) ctx.addIssue({ code: 'custom', path: ['template'], message: 'does not go with an expression' });
    const problem = expressionProblem(config.expression);
    if (problem) ctx.addIssue({ code: 'custom', path: ['expression'], message: problem });
  });

export type TransformStepConfig = z.output<typeof transformStepConfig>;

export function transformStep(): StepExecutor<TransformStepConfig> {
  return {
    type: 'transform',
    description: 'Builds a new value from the input and earlier steps’ outputs, with a template or a JSONata expression.',
    config: transformStepConfig,
    async execute(config, context) {
      if (config.expression === undefined) return { kind: 'completed', output: await evaluateTemplate(config.template, context) };
      // An expression that matches nothing outputs null, as a placeholder to nothing does: step outputs are JSON.
      return { kind: 'completed', output: (await evaluateExpression(config.expression, templateData(context), 'expression')) ?? null };
    },
  };
}
