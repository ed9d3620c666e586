import { z } from 'zod';
import { parseConfig } from './config.ts';

/** A dependency the service cannot serve without; throws when it is unavailable. */
export type HealthCheck = () => Promise<void>;

export interface ReadinessReport {
  status: 'ready' | 'unavailable';
  checks: Record<string, { status: 'up' | 'down'; error?: string }>;
  /** What {@link HealthOptions.details} reported, under its own keys. */
  [detail: string]: unknown;
}

/** Response header of the health endpoints naming the launch a process belongs to (see {@link HealthOptions.instance}). */
export const INSTANCE_HEADER = 'x-nexusflow-instance';

const instanceEnvSchema = z.object({ NEXUSFLOW_INSTANCE: z.string().optional() });

export interface HealthOptions {
  /** How long one check may take before it counts as down. @default 2000 */
  checkTimeoutMs?: number;
  /**
   * Sent in {@link INSTANCE_HEADER} by the health endpoints, so that the launcher takes readiness only from processes it
   * started, never from another instance already serving on the same ports.
   * @default NEXUSFLOW_INSTANCE, which the launcher gives its processes; unset: no header
   */
  instance?: string;
  /**
   * What readiness reports beside its checks without deciding it, e.g. the gateway's subgraphs: losing one degrades
   * some answers but leaves the gateway serving the rest. Must settle on its own; if it throws, it is left out.
   * @default nothing
   */
  details?: () => Promise<Record<string, unknown>>;
}

export class Health {
  private draining = false;
  private readonly startedAt = Date.now();
  private readonly checkTimeoutMs: number;
  private readonly details: (() => Promise<Record<string, unknown>>) | undefined;
  readonly instance: string | undefined;

  constructor(
    readonly serviceName: string,
    private readonly checks: Record<string, HealthCheck>,
    options: HealthOptions = {},
  ) {
    this.checkTimeoutMs = options.checkTimeoutMs ?? 2000;
    this.details = options.details;
    this.instance = options.instance ?? parseConfig(instanceEnvSchema).NEXUSFLOW_INSTANCE;
  }

  /** From now on readiness fails, so that load balancers stop sending new work during shutdown. */
  startDraining(): void {
    this.draining = true;
  }

  summary() {
    return { status: 'ok', service: this.serviceName, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) };
  }

  async readiness(): Promise<ReadinessReport> {
    const details = this.details?.().catch(() => ({}));
    const entries = await Promise.all(
      Object.entries(this.checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), this.checkTimeoutMs);
          return [name, { status: 'up' as const }] as const;
        } catch (error) {
          return [name, { status: 'down' as const, error: error instanceof Error ? error.message : String(error) }] as const;
        }
      }),
    );
    const checks: ReadinessReport['checks'] = Object.fromEntries<ReadinessReport['checks'][string]>(entries);
    if (this.draining) checks.shutdown = { status: 'down', error: 'draining' };
    const ready = Object.values(checks).every((check) => check.status === 'up');
    const report: ReadinessReport = { status: ready ? 'ready' : 'unavailable', checks };
    for (const [key, value] of Object.entries((await details) ?? {})) if (!(key in report)) report[key] = value;
    return report;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
