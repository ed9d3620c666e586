import { requireUser, type Identity } from '@nexusflow/kit';
import { z } from 'zod';
import type { StepRegistry } from '../steps/index.ts';
import { definitionSchema, parseDefinition, type DefinitionProblem } from './definition.ts';

export interface DefinitionValidation {
  valid: boolean;
  problems: DefinitionProblem[];
  /** When valid: the definition as a WorkflowInput, which createWorkflow takes as it is. */
  definition: unknown;
}

export interface StepTypeGuide {
  type: string;
  description: string;
  configSchema: unknown;
}

export interface DefinitionGuide {
  definitionSchema: unknown;
  stepTypes: StepTypeGuide[];
}

/** What a definition may hold as its author writes it: defaults may be left out. */
const asWritten = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

/**
 * Checks a definition with createWorkflow's own rules, for services that write definitions (the ai subgraph's
 * suggestions) and must never hand out one that createWorkflow would refuse.
 */
export function validateDefinition(identity: Identity, definition: unknown, steps: StepRegistry): DefinitionValidation {
  requireUser(identity);
  const parsed = parseDefinition(definition, steps);
  if (!parsed.ok) return { valid: false, problems: parsed.problems, definition: null };
  // The steps' configs stay as written: createWorkflow parses them again, and a default filled in here is not wrong there.
  return { valid: true, problems: [], definition: definitionSchema.parse(definition) };
}

/** The definition's shape and each step type's configuration, derived from the schemas that validate them. */
export function definitionGuide(identity: Identity, steps: StepRegistry): DefinitionGuide {
  requireUser(identity);
  return {
    definitionSchema: asWritten(definitionSchema),
    stepTypes: steps.types().map((type) => {
      const executor = steps.get(type)!;
      return { type, description: executor.description, configSchema: asWritten(executor.config) };
    }),
  };
}
