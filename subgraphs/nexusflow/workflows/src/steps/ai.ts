import { type TypedDocumentNode } from '@nexusflow/kit';
import { z } from 'zod';
import {
  WorkflowAiClassifyDocument,
  WorkflowAiCompleteDocument,
  WorkflowAiExtractDocument,
  WorkflowAiSummarizeDocument,
  type WorkflowAiStepCompletionFragment,
} from '../__generated__/ai-operations.ts';
import { evaluateRequiredText, evaluateTemplate } from './template.ts';
import { callStepService, ownerAsMember } from './service-call.ts';
import { cancelled, type StepContext, type StepExecutor } from './types.ts';

export interface AiStepOptions {
  /** The ai subgraph's GraphQL endpoint. */
  aiUrl: string;
  /** Signs the identity the step sends with, as the gateway signs its own. */
  internalSecret: string;
}

/**
 * The step's own timeout (at most 15 minutes) bounds the call: a model may take longer than the 10 seconds calls
 * between services get by default, and the ai service retries and falls back within it.
 */
const CALL_TIMEOUT_MS = 15 * 60_000;

/** A template of the ai service's prompt library; the tenant's latest version of it when no version is given. */
const promptReference = z.object({ name: z.string().min(1), version: z.number().int().min(0).optional() }).strict();

/** Templated text that must not be blank once rendered. */
const text = z.string().refine((value) => value.trim() !== '', 'must not be empty');

export const aiStepConfig = z.discriminatedUnion('operation', [
  z
    .object({
      operation: z.literal('complete'),
      /** Templated: what the model is asked. Either this or `template`. */
      prompt: text.optional(),
      /** Templated: instructions the model follows throughout. */
      system: text.optional(),
      /** A template of the prompt library to render instead of `prompt`, with `variables` (strings templated). */
      template: promptReference.optional(),
      variables: z.record(z.string(), z.unknown()).optional(),
      /** A chat model of the ai service's catalogue; its routing picks one when omitted. */
      model: z.string().min(1).optional(),
      temperature: z.number().min(0).max(2).optional(),
      maxTokens: z.number().int().min(1).optional(),
    })
    .strict()
    .refine((config) => (config.prompt === undefined) !== (config.template === undefined), {
      message: 'needs either a prompt or a template, not both',
      path: ['prompt'],
    }),
  z
    .object({
      operation: z.literal('classify'),
      /** Templated. */
      text,
      /** The labels to choose from (2 to 50); each templated. */
      labels: z.array(text).min(2).max(50),
      template: promptReference.optional(),
    })
    .strict(),
  z
    .object({
      operation: z.literal('extract'),
      /** Templated. */
      text,
      /** A JSON Schema of the data; the output's `data` is valid against it. */
      schema: z.record(z.string(), z.unknown()),
      template: promptReference.optional(),
    })
    .strict(),
  z
    .object({
      operation: z.literal('summarize'),
      /** Templated. */
      text,
      /** @default 120 */
      maxWords: z.number().int().min(1).max(1000).optional(),
      template: promptReference.optional(),
    })
    .strict(),
]);

export type AiStepConfig = z.output<typeof aiStepConfig>;

/** Which model answered, from which prompt, at what cost: the same for every operation. */
export type AiStepCompletion = Omit<WorkflowAiStepCompletionFragment, ' $fragmentName'>;

export type AiStepOutput =
  | ({ operation: 'complete'; text: string } & AiStepCompletion)
  | ({ operation: 'classify'; label: string; confidence: number } & AiStepCompletion)
  | ({ operation: 'extract'; data: unknown } & AiStepCompletion)
  | ({ operation: 'summarize'; summary: string } & AiStepCompletion);

/**
 * Asks the ai service, for the execution's owner, to complete a prompt, classify a text, extract data from it or
 * summarise it; later steps read the answer from its output, e.g. `{{steps.triage.output.label}}`.
 */
export function aiStep(options: AiStepOptions): StepExecutor<AiStepConfig> {
  return {
    type: 'ai',
    description:
      'Asks an AI model, for the workflow’s owner: complete a prompt (output text), classify a text among labels (label, confidence), extract data valid against a JSON Schema (data), or summarise a text (summary).',
    config: aiStepConfig,
    async execute(config, context) {
      if (context.signal.aborted) throw cancelled();
      const service = {
        url: options.aiUrl,
        internalSecret: options.internalSecret,
        timeoutMs: CALL_TIMEOUT_MS,
        unavailable: 'the ai service could not answer',
        // RATE_LIMITED and SERVICE_UNAVAILABLE pass; BAD_USER_INPUT (too many tokens, a label the model cannot keep to) does not.
        refused: 'the ai service refused the request',
      };
      const owner = ownerAsMember(context, 'ask the ai service for');
      const call = <TResult, TVariables>(query: TypedDocumentNode<TResult, TVariables>, variables: TVariables) =>
        callStepService(service, context, owner, query, variables);
      const prompt = config.template ? { prompt: config.template } : {};
      let output: AiStepOutput;
      switch (config.operation) {
        case 'complete': {
          const { text: answer, ...completion } = (
            await call(WorkflowAiCompleteDocument, { input: await completionInput(config, context) })
          ).complete;
          output = { operation: 'complete', text: answer, ...completion };
          break;
        }
        case 'classify': {
          const labels = await Promise.all(config.labels.map((label, index) => evaluateRequiredText(label, context, `labels.${index}`)));
          const { label, confidence, completion } = (
            await call(WorkflowAiClassifyDocument, { text: await evaluateRequiredText(config.text, context, 'text'), labels, ...prompt })
          ).classify;
          output = { operation: 'classify', label, confidence, ...completion };
          break;
        }
        case 'extract': {
          const { data, completion } = (
            await call(WorkflowAiExtractDocument, {
              text: await evaluateRequiredText(config.text, context, 'text'),
              schema: config.schema,
              ...prompt,
            })
          ).extract;
          output = { operation: 'extract', data, ...completion };
          break;
        }
        case 'summarize': {
          const { text: summary, completion } = (
            await call(WorkflowAiSummarizeDocument, {
              text: await evaluateRequiredText(config.text, context, 'text'),
              ...(config.maxWords === undefined ? {} : { maxWords: config.maxWords }),
              ...prompt,
            })
          ).summarize;
          output = { operation: 'summarize', summary, ...completion };
          break;
        }
      }
      return { kind: 'completed', output };
    },
  };
}

async function completionInput(config: Extract<AiStepConfig, { operation: 'complete' }>, context: StepContext) {
  const tuning = {
    ...(config.model === undefined ? {} : { model: config.model }),
    ...(config.temperature === undefined ? {} : { temperature: config.temperature }),
    ...(config.maxTokens === undefined ? {} : { maxTokens: config.maxTokens }),
  };
  if (config.template) {
    return { prompt: config.template, variables: await evaluateTemplate(config.variables ?? {}, context, 'variables'), ...tuning };
  }
  const messages = [
    ...(config.system === undefined
      ? []
      : [{ role: 'SYSTEM' as const, content: await evaluateRequiredText(config.system, context, 'system') }]),
    { role: 'USER' as const, content: await evaluateRequiredText(config.prompt ?? '', context, 'prompt') },
  ];
  return { messages, ...tuning };
}
