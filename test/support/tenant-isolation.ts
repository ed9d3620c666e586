import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GraphQLResponse } from '@nexusflow/kit/testing';
import type { SignedUp } from './accounts.ts';

/** What a subgraph's isolation cases act with: tenant A (who owns the data) and tenant B (the stranger), through the gateway. */
export interface IsolationContext {
  a: SignedUp;
  b: SignedUp;
  /** The data of `document` sent as `account`; fails the test on any error. */
  data: (account: SignedUp, document: string, variables?: Record<string, unknown>) => Promise<Record<string, any>>;
  /** The whole response of `document` sent as `account`, errors included. */
  ask: (account: SignedUp, document: string, variables?: Record<string, unknown>) => Promise<GraphQLResponse<Record<string, any>>>;
  /** A subscription of `document` as `account`, over WebSocket through the gateway; closed when the test ends. */
  subscribe: <T = Record<string, any>>(
    account: SignedUp,
    document: string,
    variables?: Record<string, unknown>,
  ) => AsyncIterableIterator<{ data?: T | null; errors?: readonly { message: string; extensions?: Record<string, unknown> }[] }>;
}

/**
 * A subgraph's part of test/integration/tenant-isolation.test.ts, in `test/tenant-isolation.cases.ts` of its folder
 * (exported as `isolationCases`): tenant A's data, a case per root field of its schema, and its `_entities` types.
 */
export interface SubgraphIsolationCases<State> {
  /** Makes tenant A's data through the gateway, once, before any case runs. */
  setUp(context: IsolationContext): Promise<State>;
  /** What tenant A sees of its data: compared before and after each case, so that tenant B can change none of it. */
  stateOfA(context: IsolationContext, state: State): Promise<unknown>;
  /** By root field (`Query.examples`): tenant B acting on tenant A's data, and what it must (not) see. */
  root: Record<string, (context: IsolationContext, state: State) => Promise<void>>;
  /** By type with a resolvable `@key`: the selection that would show tenant A's data, and tenant A's id of it. */
  entities: Record<string, { selection: string; id(state: State): string }>;
}

/** Typed in one place, so that a case file's `State` is checked across its parts. */
export const defineIsolationCases = <State>(cases: SubgraphIsolationCases<State>): SubgraphIsolationCases<State> => cases;

/** The isolation cases of every subgraph of a graph's folder that has them, by service name. */
export async function loadSubgraphIsolationCases(graphDirectory: string): Promise<Record<string, SubgraphIsolationCases<unknown>>> {
  const found: Record<string, SubgraphIsolationCases<unknown>> = {};
  for (const service of readdirSync(graphDirectory).sort()) {
    const file = join(graphDirectory, service, 'test', 'tenant-isolation.cases.ts');
    if (!existsSync(file)) continue;
    const module = (await import(file)) as { isolationCases?: SubgraphIsolationCases<unknown> };
    if (!module.isolationCases) throw new Error(`${file} exports no \`isolationCases\``);
    found[service] = module.isolationCases;
  }
  return found;
}
