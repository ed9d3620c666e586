import { callSubgraph, type Environment, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, TcpProxy, type GraphQLResponse } from '@nexusflow/kit/testing';
import { JWKS_PATH, subgraphRouteVariable } from '@nexusflow/topology';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import type { BillingServiceServices } from '../../subgraphs/nexus-cos/billing-service/src/context.ts';
import { subgraph as billingService } from '../../subgraphs/nexus-cos/billing-service/src/subgraph.ts';
import type { InvoiceGenServices } from '../../subgraphs/nexus-cos/invoice-gen/src/context.ts';
import { subgraph as invoiceGenService } from '../../subgraphs/nexus-cos/invoice-gen/src/subgraph.ts';
import type { LedgerMgrServices } from '../../subgraphs/nexus-cos/ledger-mgr/src/context.ts';
import { subgraph as keyServiceService } from '../../subgraphs/nexus-cos/key-service/src/subgraph.ts';
import { subgraph as ledgerMgrService } from '../../subgraphs/nexus-cos/ledger-mgr/src/subgraph.ts';
import { subgraph as tokenMgrService } from '../../subgraphs/nexus-cos/token-mgr/src/subgraph.ts';
import { FakeStripe } from './fake-stripe.ts';
import { LossyProxy } from './lossy-proxy.ts';
import { routesFor, TestServices, type StorageMode } from './services.ts';

export type User = Extract<Identity, { kind: 'user' }>;

const ISSUE_TOKEN = `mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { token } }`;

/** Stripe's test keys for the fake: the webhook secret as the dashboard shows one (whsec_ and 32 characters). */
const STRIPE_SECRET_KEY = 'sk_test_payments0000000000000000';
const STRIPE_WEBHOOK_SECRET = 'whsec_paymentsPaymentsPayments0000000000';

export interface PaymentsStack {
  services: TestServices;
  stripe: FakeStripe;
  gateway: RunningGateway;
  ledgerMgr: RunningSubgraph<LedgerMgrServices>;
  /** The billing-service running now: {@link restartBilling} replaces it. */
  billing: RunningSubgraph<BillingServiceServices>;
  invoiceGen: RunningSubgraph<InvoiceGenServices>;
  /** Between billing-service and ledger-mgr: loses the answers it is told to lose. */
  toLedger: LossyProxy;
  /** Sends `query` through backend-api as `user`, with an access token token-mgr signed. */
  send<T = Record<string, any>>(user: User | undefined, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** Stops billing-service as a deployment stops a pod, and starts it again on the same database, behind the same address. */
  restartBilling(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The payments path behind backend-api: key-service and token-mgr (the tokens the gateway verifies), ledger-mgr, invoice-gen and
 * billing-service on one storage mode, a fake Stripe speaking its HTTP API, its webhooks delivered to billing-service.
 * billing-service sits behind a TCP proxy, so that ledger-mgr (which calls it) and the gateway keep its address across
 * a restart; ledger-mgr behind a lossy proxy, so that a test can lose the answer of a posting.
 */
export async function startPaymentsStack(mode: StorageMode, label: string): Promise<PaymentsStack> {
  const services = await TestServices.create(mode, label);
  try {
    const stripe = await new FakeStripe({ secretKey: STRIPE_SECRET_KEY, webhookSecret: STRIPE_WEBHOOK_SECRET, prices: {} }).start();
    services.onClose(() => stripe.close());
    const toBilling = await TcpProxy.start();
    services.onClose(() => toBilling.close());
    const billingAddress = `http://127.0.0.1:${toBilling.port}`;

    // token-mgr's private keys are wrapped by key-service: it starts first.
    const keyService = await services.start(keyServiceService, {
      ...(await services.environmentFor('key-service')),
      KEY_MAINTENANCE_INTERVAL_MS: '0',
    });
    const tokenMgr = await services.start(tokenMgrService, {
      ...(await services.environmentFor('token-mgr')),
      KEY_SERVICE_URL: keyService.graphqlUrl,
      ROTATE_KEYS: 'off',
    });
    const ledgerMgr = await services.start(ledgerMgrService, {
      ...(await services.environmentFor('ledger-mgr')),
      BILLING_SERVICE_URL: `${billingAddress}/graphql`,
    });
    const toLedger = await new LossyProxy(ledgerMgr.graphqlUrl).start();
    services.onClose(() => toLedger.close());
    const invoiceGen = await services.start(invoiceGenService, {
      ...(await services.environmentFor('invoice-gen')),
      LEDGER_MGR_URL: ledgerMgr.graphqlUrl,
    });

    const billingEnvironment: Environment = {
      ...(await services.environmentFor('billing-service')),
      ...stripe.environment,
      STRIPE_API_BASE_URL: stripe.origin,
      INVOICE_GEN_URL: invoiceGen.graphqlUrl,
      LEDGER_MGR_URL: toLedger.url,
      // Pending events are applied at start and when a test asks: no timer races the test.
      STRIPE_EVENT_RETRY_INTERVAL_MS: '0',
      // A failed event is due again at once: a test's restart resumes it without waiting out the backoff.
      STRIPE_EVENT_BACKOFF_INITIAL_MS: '0',
      // A refund Stripe could not be reached for is sent by the next pass the test runs, however young.
      STRIPE_UNSENT_REFUND_AGE_MS: '0',
    };
    const startBilling = async () => {
      const running = await billingService.start(billingEnvironment);
      toBilling.pointAt(running.url);
      return running;
    };
    let billing = await startBilling();
    stripe.webhookUrl = `${billingAddress}/webhooks/stripe`;

    const running: Record<string, RunningSubgraph<unknown>> = {
      'key-service': keyService,
      'token-mgr': tokenMgr,
      'ledger-mgr': ledgerMgr,
      'invoice-gen': invoiceGen,
    };
    const gateway = await services.startGateway(
      'nexus-cos',
      { ...routesFor('nexus-cos', running), [subgraphRouteVariable('billing-service')]: `${billingAddress}/graphql` },
      { ACCESS_TOKEN_JWKS_URL: `${tokenMgr.url}${JWKS_PATH}`, ACCESS_TOKEN_JWKS_COOLDOWN_MS: '0' },
    );
    const tokens = new Map<string, string>();
    const tokenOf = async (user: User) => {
      const key = JSON.stringify(user);
      let token = tokens.get(key);
      if (!token) {
        const issued = await callSubgraph<{ issueAccessToken: { token: string } }, unknown>({
          url: tokenMgr.graphqlUrl,
          query: ISSUE_TOKEN,
          variables: { input: { userId: user.userId, tenantId: user.tenantId, roles: user.roles } },
          identity: { kind: 'anonymous' },
          internalSecret: tokenMgr.config.internalSecret,
        });
        token = issued.issueAccessToken.token;
        tokens.set(key, token);
      }
      return token;
    };

    const stack: PaymentsStack = {
      services,
      stripe,
      gateway,
      ledgerMgr,
      billing,
      invoiceGen,
      toLedger,
      send: async (user, query, variables) =>
        postGraphQL(gateway.graphqlUrl, query, { ...(user ? { token: await tokenOf(user) } : {}), variables }),
      async restartBilling() {
        await billing.close();
        billing = await startBilling();
        stack.billing = billing;
      },
      close: async () => {
        await billing.close();
        await services.close();
      },
    };
    return stack;
  } catch (error) {
    await services.close();
    throw error;
  }
}
