import type { z } from 'zod';
import { aiStep, type AiStepOptions } from './ai.ts';
import { conditionStep } from './condition.ts';
import { delayStep } from './delay.ts';
import { httpStep, type HttpStepOptions } from './http.ts';
import { integrationStep, type IntegrationStepOptions } from './integration.ts';
import { notifyStep, type NotifyStepOptions } from './notify.ts';
import { transformStep } from './transform.ts';
import type { StepExecutor } from './types.ts';

export type ConfigParseResult = { ok: true; config: unknown } | { ok: false; problems: string[] };

/** The step types a workflow may use. New kinds of step (AI, integrations) plug in with `register`. */
export class StepRegistry {
  readonly #executors = new Map<string, StepExecutor<unknown>>();

  /** Adds an executor; a type can be registered once, so one plugin cannot silently replace another. */
  register<C>(executor: StepExecutor<C>): this {
    if (this.#executors.has(executor.type)) throw new Error(`step type "${executor.type}" is already registered`);
    this.#executors.set(executor.type, executor);
    return this;
  }

  get(type: string): StepExecutor<unknown> | undefined {
    return this.#executors.get(type);
  }

  /** In registration order. */
  types(): string[] {
    return [...this.#executors.keys()];
  }

  /**
   * Validates a step's raw config for `type`. On success `config` is what the executor expects (defaults applied);
   * on failure each problem names the offending field, ready to show to whoever edits the workflow.
   */
  parseConfig(type: string, config: unknown): ConfigParseResult {
    const executor = this.#executors.get(type);
    if (!executor) return { ok: false, problems: [`unknown step type "${type}"; known types: ${this.types().join(', ')}`] };
    const result = executor.config.safeParse(config);
    if (result.success) return { ok: true, config: result.data };
    return { ok: false, problems: result.error.issues.map((issue) => describeIssue(issue, config)) };
  }
}

function describeIssue(issue: z.core.$ZodIssue, config: unknown): string {
  // Zod words an absent field as a type mismatch ("expected string, received undefined"), which reads oddly in an editor.
  const message = issue.code === 'invalid_type' && valueAt(config, issue.path) === undefined ? 'is required' : issue.message;
  return issue.path.length === 0 ? message : `${issue.path.map(String).join('.')}: ${message}`;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

export interface DefaultStepOptions extends HttpStepOptions {
  allowPrivateNetworks: boolean;
  notify: NotifyStepOptions;
  ai: AiStepOptions;
  integration: IntegrationStepOptions;
}

/** The built-in step types: http, delay, condition, transform, notify, ai and integration. */
export function defaultStepRegistry(options: DefaultStepOptions): StepRegistry {
  return new StepRegistry()
    .register(httpStep(options))
    .register(delayStep())
    .register(conditionStep())
    .register(transformStep())
    .register(notifyStep(options.notify))
    .register(aiStep(options.ai))
    .register(integrationStep(options.integration));
}
