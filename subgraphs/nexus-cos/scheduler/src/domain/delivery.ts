import { performance } from 'node:perf_hooks';
import { Role, signIdentity } from '@nexusflow/kit';

/**
 * Headers of every delivery beside the signed identity. The delivery id is the run's id: the same at every attempt and
 * in every scheduler instance, so a receiver that stores the ids it handled can ignore a repeated delivery.
 */
export const DeliveryHeader = {
  DeliveryId: 'x-nexus-cos-delivery-id',
  TaskId: 'x-nexus-cos-task-id',
  ScheduledFor: 'x-nexus-cos-scheduled-for',
  Attempt: 'x-nexus-cos-attempt',
} as const;

/** What one attempt sends: copied from the run, which copied it from its task when it fired. */
export interface DeliveryRequest {
  runId: string;
  taskId: string;
  tenantId: string;
  /** The task's creator, whom the delivery is signed as. */
  deliverAs: string;
  scheduledFor: Date;
  target: string;
  path: string;
  payload: unknown;
  timeoutSeconds: number;
  attempt: number;
}

export type DeliveryOutcome = { ok: boolean; responseCode: number | null; error: string | null; durationMs: number };

/** An absolute path, without `//` (another host), `..` segments, a fragment or characters that need encoding. */
const PATH_PATTERN = /^\/(?!\/)[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*(\?[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*)?$/;

/**
 * What every service's kit server answers itself. Its /graphql trusts the signed identity a delivery carries, internal
 * (`@inaccessible`) operations included: a task reaching it would run them as its creator, past the gateway.
 */
const SERVICE_ENDPOINTS = new Set(['/graphql', '/health', '/health/live', '/health/ready', '/metrics']);

/** Why a path cannot be delivered to, or null when it can. */
export function pathProblem(path: string): string | null {
  if (path.length > 2048) return 'must be at most 2048 characters';
  if (!PATH_PATTERN.test(path)) return 'must be an absolute path such as /tasks/close-period, without scheme, host or fragment';
  // The path as fetch sends it: `%2e%2e` is a `..` segment to the URL parser, so only the resolved path is compared.
  const { pathname } = new URL(path, 'http://target.invalid');
  if (pathname !== path.split('?')[0]) return 'must not contain . or .. segments';
  if (SERVICE_ENDPOINTS.has(pathname)) return `must not be ${pathname}, which every service serves itself`;
  return null;
}

/**
 * Delivers runs to Nexus COS services: an HTTP POST of the JSON payload to a path of a topology service, whose origin
 * comes from configuration only (a task names a service, never a URL), signed with the internal secret as the kit signs
 * calls between services. Redirects are not followed: they could lead anywhere.
 */
export class TaskDelivery {
  constructor(
    private readonly origins: Readonly<Record<string, string>>,
    private readonly internalSecret: string,
    private readonly clock: () => number,
  ) {}

  isTarget(target: string): boolean {
    return Object.hasOwn(this.origins, target);
  }

  /** The URL of a target's path, or null when the path would leave the target's origin. */
  urlOf(target: string, path: string): URL | null {
    const origin = this.isTarget(target) ? this.origins[target]! : undefined;
    if (!origin || pathProblem(path)) return null;
    const url = new URL(path, origin);
    return url.origin === origin ? url : null;
  }

  async deliver(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const url = this.urlOf(request.target, request.path);
    if (!url) return { ok: false, responseCode: null, error: `"${request.target}" is not a deliverable target`, durationMs: 0 };
    // Known limitation: the creator is not checked at fire time. The scheduler holds no users, and knowing whether the
    // creator is still an active member of the tenant needs user-auth (its internal `userStanding`) on every delivery,
    // a dependency the scheduler does not have. The tasks of a creator who was deactivated or demoted keep delivering,
    // always as a MEMBER whatever role the creator had; targets that act on the caller must check the user themselves.
    const identity = { kind: 'user' as const, userId: request.deliverAs, tenantId: request.tenantId, roles: [Role.Member] };
    try {
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(request.timeoutSeconds * 1000),
        headers: {
          'content-type': 'application/json',
          ...signIdentity(identity, this.internalSecret, this.clock()),
          [DeliveryHeader.DeliveryId]: request.runId,
          [DeliveryHeader.TaskId]: request.taskId,
          [DeliveryHeader.ScheduledFor]: request.scheduledFor.toISOString(),
          [DeliveryHeader.Attempt]: String(request.attempt),
        },
        body: JSON.stringify(request.payload ?? null),
      });
      await response.body?.cancel();
      const ok = response.status >= 200 && response.status < 300;
      return { ok, responseCode: response.status, error: ok ? null : `the target answered ${response.status}`, durationMs: elapsed() };
    } catch (error) {
      const reason =
        (error as Error).name === 'TimeoutError' ? `no answer within ${request.timeoutSeconds} s` : 'the target could not be reached';
      return { ok: false, responseCode: null, error: reason, durationMs: elapsed() };
    }
  }
}
