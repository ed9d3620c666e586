import { callSubgraph, Role, SubgraphRequestError, type Identity, type TypedDocumentNode } from '@nexusflow/kit';
import { cancelled, StepError, type StepContext } from './types.ts';

/** Another subgraph a step acts through, and how its failures read in the step's error. */
export interface StepService {
  url: string;
  internalSecret: string;
  /** Gives up on an answer after this long (the kit's default when absent). */
  timeoutMs?: number;
  /** Begins a retryable failure's message, e.g. "the ai service could not answer". */
  unavailable: string;
  /** Begins a refusal's message, e.g. "the ai service refused the request". */
  refused: string;
}

/**
 * The run's owner with the least role a step needs: the engine acts for them, and must not be able to do more than a
 * member of their tenant could; the other service counts the step as the owner's request (limits, usage, audit).
 * `purpose` ends "this run has no owner to …" for runs started before runs recorded their owner.
 */
export function ownerAsMember(context: StepContext, purpose: string): Extract<Identity, { kind: 'user' }> {
  const { ownerId, tenantId } = context.execution;
  if (!ownerId) throw new StepError(`this run has no owner to ${purpose}: it started before runs recorded their owner`, false);
  return { kind: 'user', userId: ownerId, tenantId, roles: [Role.Member] };
}

/**
 * Sends a typed operation to `service` as `identity`. Its failures become the step's: retryable when the service says
 * a later attempt may work (RATE_LIMITED, SERVICE_UNAVAILABLE, unreachable), carrying its Retry-After for the engine;
 * a refusal (BAD_USER_INPUT, FORBIDDEN…) fails the step for good.
 */
export async function callStepService<TResult, TVariables>(
  service: StepService,
  context: StepContext,
  identity: Identity,
  query: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  const { signal } = context;
  try {
    return await callSubgraph({
      url: service.url,
      internalSecret: service.internalSecret,
      identity,
      query,
      variables,
      signal,
      ...(service.timeoutMs === undefined ? {} : { timeoutMs: service.timeoutMs }),
    });
  } catch (error) {
    if (signal.aborted) throw cancelled();
    if (!(error instanceof SubgraphRequestError)) throw error;
    const details = {
      code: error.code,
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    };
    if (!error.retryable) throw new StepError(`${service.refused}: ${error.message}`, false, details);
    const retryAfterMs = error.retryAfterSeconds === undefined ? undefined : error.retryAfterSeconds * 1000;
    throw new StepError(`${service.unavailable}: ${error.message}`, true, details, retryAfterMs);
  }
}
