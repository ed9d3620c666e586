import { createHash } from 'node:crypto';
import type { SupergraphManager } from '@apollo/gateway';
import type { GatewayExecutor, GatewayGraphQLRequestContext, GatewayInterface } from '@apollo/server-gateway-interface';
import { GraphQLError, print, type DocumentNode, type ExecutionResult } from 'graphql';
import { scopesOf } from '@nexusflow/kit/core';
import { authorizeOperation, type AuthorizationOutcome, type Grants } from '../authorization/filter.ts';
import { POLICIES, type Policy, type PolicyRequest } from '../authorization/policies.ts';
import { AuthorizationRules } from '../authorization/rules.ts';
import type { GatewayContext } from '../context.ts';

/** An operation authorized for one caller; when filtered, `source` is the text to plan instead of the client's. */
export type AuthorizedOperation =
  Exclude<AuthorizationOutcome, { kind: 'filtered' }> | (Extract<AuthorizationOutcome, { kind: 'filtered' }> & { source: string });

export interface Authorization {
  /**
   * The supergraph source, each supergraph's authorization directives read before the gateway takes it: one naming a
   * policy the gateway does not know fails the gateway's start, or is rejected as an update (the previous one serving).
   */
  watch(source: SupergraphManager): SupergraphManager;
  /** The gateway as Apollo Server sees it, with every query and mutation authorized before it is planned. */
  around(gateway: GatewayInterface): GatewayInterface;
  /** Authorizes an operation for the caller of `context` (subscriptions, which do not pass Apollo Server's executor). */
  authorize: (
    document: DocumentNode,
    source: string,
    operationName: string | undefined,
    variables: Record<string, unknown>,
    context: GatewayContext,
  ) => AuthorizedOperation;
}

/** What one request's caller holds: its scopes, and the policies that allow it, each decided once per request. */
function grantsOf(request: PolicyRequest, policies: ReadonlyMap<string, Policy>): Grants {
  const decided = new Map<string, boolean>();
  return {
    authenticated: request.identity.kind === 'user',
    scopes: new Set(scopesOf(request.identity)),
    policy: (name) => {
      let allowed = decided.get(name);
      if (allowed === undefined) decided.set(name, (allowed = policies.get(name)?.allows(request) ?? false));
      return allowed;
    },
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The text planned for what is left of an operation. The executor plans this text and shapes the response by the
 * client's document, so removed fields come back null (non-null ones nulling their parent) exactly where the client
 * asked for them. The comment names the client's document, so that two documents left with the same selections never
 * share a prepared operation, which holds the shaping of the one it was prepared for.
 */
const plannedSource = (filtered: DocumentNode, clientSource: string) =>
  `${print(filtered)}\n# authorized subset of ${sha256(clientSource)}\n`;

const isUnder = (path: readonly (string | number)[] | undefined, removed: readonly string[][]) => {
  const keys = (path ?? []).filter((segment): segment is string => typeof segment === 'string');
  return removed.some((prefix) => prefix.every((key, index) => keys[index] === key));
};

/** A result of what was left, with the errors of what was removed first, and no value-completion notes about removed fields. */
export function withRemovals(result: ExecutionResult, authorized: Extract<AuthorizedOperation, { kind: 'filtered' }>): ExecutionResult {
  const { valueCompletion, ...extensions } = (result.extensions ?? {}) as { valueCompletion?: GraphQLError[] } & Record<string, unknown>;
  const notes = valueCompletion?.filter((note) => !isUnder(note.path, authorized.removedPaths)) ?? [];
  const errors = [...authorized.errors, ...(result.errors ?? [])];
  const merged: ExecutionResult = { ...result };
  if (errors.length > 0) merged.errors = errors;
  if (notes.length > 0) merged.extensions = { ...extensions, valueCompletion: notes };
  else if (Object.keys(extensions).length > 0) merged.extensions = extensions;
  else delete merged.extensions;
  return merged;
}

/**
 * The authorization directives of the supergraph (`@authenticated`, `@requiresScopes`, `@policy`), enforced as Apollo
 * Router enforces them, before planning: see {@link authorizeOperation}. Scopes are the caller's roles' (`scopesOf`),
 * policies those of {@link POLICIES}.
 */
export function authorization(
  options: {
    policies?: ReadonlyMap<string, Policy>;
    /** Called with each error's code when a query or mutation is refused as a whole (nothing of it left to run). */
    onRefused?: (code: string) => void;
  } = {},
): Authorization {
  const policies = options.policies ?? POLICIES;
  const known = new Set(policies.keys());
  let rules: AuthorizationRules | undefined;
  const read = (supergraphSdl: string) => AuthorizationRules.read(supergraphSdl, known);

  const authorize: Authorization['authorize'] = (document, source, operationName, variables, context) => {
    if (!rules) return { kind: 'allowed' };
    const outcome = authorizeOperation({
      rules,
      document,
      operationName,
      variables,
      grants: grantsOf(context, policies),
    });
    return outcome.kind === 'filtered' ? { ...outcome, source: plannedSource(outcome.document, source) } : outcome;
  };

  const authorizing =
    (execute: GatewayExecutor): GatewayExecutor =>
    async (requestContext) => {
      const { document, request } = requestContext;
      const source = requestContext.source ?? print(document);
      const context = requestContext.context as GatewayContext;
      const authorized = authorize(document, source, request.operationName ?? undefined, request.variables ?? {}, context);
      if (authorized.kind === 'allowed') return execute(requestContext);
      if (authorized.kind === 'refused') {
        for (const error of authorized.errors) options.onRefused?.(String(error.extensions.code));
        return { data: authorized.data, errors: authorized.errors };
      }
      const result = await execute({
        ...requestContext,
        source: authorized.source,
        queryHash: sha256(authorized.source),
      } as GatewayGraphQLRequestContext);
      return withRemovals(result, authorized);
    };

  return {
    watch: (source) => ({
      initialize: async (hooks) => {
        const initialized = await source.initialize({
          ...hooks,
          update: (supergraphSdl) => {
            const next = read(supergraphSdl);
            // In force before the gateway tells anyone of the new supergraph: open subscriptions are judged again then.
            const previous = rules;
            rules = next;
            try {
              hooks.update(supergraphSdl);
            } catch (error) {
              rules = previous;
              throw error;
            }
          },
        });
        try {
          rules = read(initialized.supergraphSdl);
        } catch (error) {
          await initialized.cleanup?.();
          throw error;
        }
        return initialized;
      },
    }),
    around: (gateway) => ({
      onSchemaLoadOrUpdate: (callback) => gateway.onSchemaLoadOrUpdate(callback),
      load: async (options) => {
        const loaded = await gateway.load(options);
        return { ...loaded, executor: loaded.executor && authorizing(loaded.executor) };
      },
      stop: () => gateway.stop(),
    }),
    authorize,
  };
}
