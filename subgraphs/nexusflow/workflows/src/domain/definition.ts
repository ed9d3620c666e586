import { z } from 'zod';
import type { StepRegistry } from '../steps/index.ts';
import { templateProblems } from '../steps/template.ts';
import { triggerProblems } from '../triggers/trigger-rules.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface StepDefinition {
  key: string;
  type: string;
  config: unknown;
  retry: RetryPolicy;
  timeoutMs: number;
}

export type TriggerType = 'MANUAL' | 'SCHEDULE' | 'EVENT' | 'WEBHOOK';

export interface TriggerDefinition {
  type: TriggerType;
  /** For EVENT triggers: the routing key pattern of the domain events that start a run. */
  eventType?: string | null;
  /** For EVENT triggers: a JSONata expression over the event; a run starts only for events it holds for. */
  filter?: string | null;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 60_000 };
export const DEFAULT_STEP_TIMEOUT_MS = 30_000;

const retrySchema = z.object({
  maxAttempts: z.number().int().min(1).max(20),
  initialBackoffMs: z.number().int().min(1).max(3_600_000).nullish(),
  maxBackoffMs: z.number().int().min(1).max(86_400_000).nullish(),
});

const stepSchema = z.object({
  key: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'must start with a letter and use letters, digits, - and _ (at most 64)'),
  type: z.string().min(1),
  config: z.unknown(),
  retry: retrySchema.nullish(),
  timeoutMs: z
    .number()
    .int()
    .min(10)
    .max(15 * 60_000)
    .nullish(),
});

const triggerSchema = z.object({
  type: z.enum(['MANUAL', 'SCHEDULE', 'EVENT', 'WEBHOOK']),
  eventType: z.string().min(1).max(255).nullish(),
  filter: z.string().min(1).nullish(),
});

export const definitionSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  description: z.string().max(2000).nullish(),
  steps: z.array(stepSchema).min(1, 'a workflow needs at least one step').max(100),
  triggers: z.array(triggerSchema).max(20).nullish(),
});

export interface DefinitionProblem {
  field: string;
  problem: string;
}

export type ParsedDefinition =
  | { ok: true; name: string; description: string | null; steps: StepDefinition[]; triggers: TriggerDefinition[] }
  | { ok: false; problems: DefinitionProblem[] };

/** Steps that jump (conditions) may only jump forward, so that every execution ends. */
function branchTargets(config: unknown): (string | null)[] {
  if (typeof config !== 'object' || config === null) return [];
  const { then, else: otherwise } = config as { then?: unknown; else?: unknown };
  return [then, otherwise].filter((target): target is string | null => typeof target === 'string' || target === null);
}

export function parseDefinition(input: unknown, registry: StepRegistry): ParsedDefinition {
  const parsed = definitionSchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), problem: issue.message })) };
  }
  const problems: DefinitionProblem[] = [];
  const positions = new Map<string, number>();
  parsed.data.steps.forEach((step, index) => {
    if (positions.has(step.key)) problems.push({ field: `steps.${index}.key`, problem: `"${step.key}" is used by another step` });
    positions.set(step.key, index);
  });
  const steps: StepDefinition[] = parsed.data.steps.map((step, index) => {
    // People know their steps by key rather than by position, so each problem of a step's config names it.
    const configProblem = (problem: string) => problems.push({ field: `steps.${index}.config`, problem: `step "${step.key}": ${problem}` });
    const config = registry.parseConfig(step.type, step.config);
    if (!config.ok) config.problems.forEach(configProblem);
    // Any step's strings may hold {{= … }} expressions: each is compiled now, so a syntax error is refused at save.
    for (const { path, problem } of templateProblems(step.config)) {
      configProblem(path.length === 0 ? problem : `${path.join('.')}: ${problem}`);
    }
    for (const target of branchTargets(step.config)) {
      if (target === null) continue;
      const position = positions.get(target);
      if (position === undefined) configProblem(`jumps to unknown step "${target}"`);
      else if (position <= index) configProblem(`may only jump forward, not to "${target}"`);
    }
    const retry = step.retry
      ? {
          maxAttempts: step.retry.maxAttempts,
          initialBackoffMs: step.retry.initialBackoffMs ?? DEFAULT_RETRY.initialBackoffMs,
          maxBackoffMs: step.retry.maxBackoffMs ?? DEFAULT_RETRY.maxBackoffMs,
        }
      : DEFAULT_RETRY;
    return {
      key: step.key,
      type: step.type,
      config: config.ok ? config.config : step.config,
      retry,
      timeoutMs: step.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
    };
  });
  problems.push(...triggerProblems(parsed.data.triggers ?? []));
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    name: parsed.data.name,
    description: parsed.data.description ?? null,
    steps,
    triggers: (parsed.data.triggers ?? [{ type: 'MANUAL' }]).map((trigger) => ({
      type: trigger.type,
      eventType: trigger.eventType ?? null,
      filter: trigger.filter ?? null,
    })),
  };
}

/**
 * Exponential backoff with up to 20% jitter, so that retries of many executions do not arrive together, and never
 * longer than the policy's maximum, which the schema promises.
 */
export function backoffDelay(policy: RetryPolicy, failedAttempt: number, random = Math.random): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (failedAttempt - 1));
  return Math.min(policy.maxBackoffMs, Math.round(base * (1 + 0.2 * random())));
}

/**
 * The wait before a failed attempt's retry: the policy's backoff, or longer when the service the step called asked for
 * more (its Retry-After), since an attempt before then would be refused the same way. The hint is capped at
 * `maxHintMs`, so that a service asking for hours does not park the run past what the deployment allows.
 */
export function retryDelay(
  policy: RetryPolicy,
  failedAttempt: number,
  retryAfterMs: number | undefined,
  maxHintMs: number,
  random = Math.random,
): number {
  const backoff = backoffDelay(policy, failedAttempt, random);
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0) return backoff;
  return Math.max(backoff, Math.min(Math.ceil(retryAfterMs), maxHintMs));
}
