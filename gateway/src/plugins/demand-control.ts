import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { ErrorCode, type Logger } from '@nexusflow/kit/core';
import { GraphQLError, type DocumentNode } from 'graphql';
import { Histogram, type Registry } from 'prom-client';
import { DemandControlMode } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { CostModel, type PreparedCost } from '../demand-control/index.ts';

export interface DemandControlOptions {
  mode: DemandControlMode;
  /** Operations estimated above this are refused (in `enforce` mode). */
  maxCost: number;
  /** Size assumed for a list with no @listSize and no slicing argument. */
  defaultListSize: number;
  /** Report `extensions.cost` (estimated, actual, max) in responses. */
  inResponse: boolean;
  registry: Registry;
  logger: Logger;
  /** Called with the code of each operation refused over HTTP (streaming transports count their own refusals). */
  onRefused?: (code: string) => void;
}

interface Measured {
  prepared: PreparedCost;
  estimated: number;
}

const COST_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000];

/**
 * Demand control as Apollo Router and Cosmo do it: every operation's cost is estimated from the supergraph's `@cost`
 * and `@listSize` before it is planned, refused above the maximum, and measured again on the response. Estimates
 * and actual costs are exported as histograms, so that the maximum can be set from what clients really send.
 */
export class DemandControl {
  private model: CostModel | undefined;
  /**
   * Documents come from Apollo Server's document cache, so one document object is prepared once per cost model: a new
   * supergraph's costs apply to documents seen before it too.
   */
  private prepared = new WeakMap<DocumentNode, Map<string, PreparedCost>>();
  private readonly measured = new WeakMap<object, Measured>();
  private readonly estimatedCost: Histogram;
  private readonly actualCost: Histogram;

  constructor(private readonly options: DemandControlOptions) {
    this.estimatedCost = new Histogram({
      name: 'gateway_operation_cost_estimated',
      help: 'Estimated cost of operations (demand control), refused ones included',
      buckets: COST_BUCKETS,
      registers: [options.registry],
    });
    this.actualCost = new Histogram({
      name: 'gateway_operation_cost_actual',
      help: 'Cost of operations measured on their responses',
      buckets: COST_BUCKETS,
      registers: [options.registry],
    });
  }

  /** Reads the cost directives of a newly served supergraph. */
  update(supergraphSdl: string): void {
    if (this.options.mode === DemandControlMode.Off) return;
    this.model = CostModel.fromSupergraph(supergraphSdl, { defaultListSize: this.options.defaultListSize });
    this.prepared = new WeakMap();
  }

  private prepare(document: DocumentNode, operationName: string | undefined): PreparedCost | undefined {
    if (!this.model) return undefined;
    let byName = this.prepared.get(document);
    if (!byName) this.prepared.set(document, (byName = new Map<string, PreparedCost>()));
    let prepared = byName.get(operationName ?? '');
    if (!prepared) byName.set(operationName ?? '', (prepared = this.model.prepare(document, operationName)));
    return prepared;
  }

  /**
   * Estimates a validated operation; the refusal when it is above the maximum and demand control is enforced.
   * `again`: an operation estimated before, judged anew (an open subscription on a new supergraph), which the
   * histogram of estimates does not count twice.
   */
  check(
    document: DocumentNode,
    operationName: string | undefined,
    variables: Record<string, unknown>,
    { again = false }: { again?: boolean } = {},
  ): { measured?: Measured; refusal?: GraphQLError } {
    const prepared = this.prepare(document, operationName);
    if (!prepared) return {};
    const estimated = prepared.estimate(variables);
    if (!again) this.estimatedCost.observe(estimated);
    if (this.options.mode === DemandControlMode.Enforce && estimated > this.options.maxCost) {
      return {
        refusal: new GraphQLError(`The operation's estimated cost is ${estimated}, above the maximum of ${this.options.maxCost}`, {
          extensions: { code: ErrorCode.CostEstimatedTooExpensive, http: { status: 400 } },
        }),
      };
    }
    return { measured: { prepared, estimated } };
  }

  apolloPlugin(): ApolloServerPlugin<GatewayContext> {
    const check = this.check.bind(this);
    const { measured: measuredByContext, actualCost } = this;
    const { mode, maxCost, inResponse, logger, onRefused } = this.options;
    if (mode === DemandControlMode.Off) return {};
    return {
      async requestDidStart() {
        return {
          async didResolveOperation(requestContext: GraphQLRequestContext<GatewayContext>) {
            const { document, request } = requestContext;
            if (!document) return;
            // The request's own operationName: Apollo Server's resolved one is unset when nothing matched it.
            const { measured, refusal } = check(document, request.operationName ?? undefined, request.variables ?? {});
            if (refusal) {
              onRefused?.(String(refusal.extensions.code));
              throw refusal;
            }
            if (measured) measuredByContext.set(requestContext.contextValue, measured);
          },
          async willSendResponse(requestContext) {
            const measured = measuredByContext.get(requestContext.contextValue);
            const body = requestContext.response.body;
            if (!measured || body.kind !== 'single') return;
            let actual: number;
            try {
              actual = measured.prepared.actual(body.singleResult.data, requestContext.request.variables ?? {});
            } catch (error) {
              logger.warn({ err: error }, 'the actual cost of a response could not be measured');
              return;
            }
            actualCost.observe(actual);
            if (inResponse)
              body.singleResult.extensions = {
                ...body.singleResult.extensions,
                cost: { estimated: measured.estimated, actual, max: maxCost, mode },
              };
          },
        };
      },
    };
  }
}
