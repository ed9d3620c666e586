import { randomUUID } from 'node:crypto';
import { Role, systemFork } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, RegisterDocument } from '@nexusflow/web-client';
import { Membership } from '../../subgraphs/nexusflow/auth/src/entities/membership.entity.ts';
import { User } from '../../subgraphs/nexusflow/auth/src/entities/user.entity.ts';
import { startStack, type Stack } from '../../test/support/stack.ts';

/**
 * A tenant's users come from auth; for each, the workflows subgraph resolves `workflows` (one `_entities`
 * call for the whole list), and each workflow's owner goes back to auth (another). Without DataLoaders,
 * statements would grow with the number of users.
 */
const TENANT_USERS_QUERY = /* GraphQL */ `
  query TenantUsers {
    me { tenant { users { id email workflows(first: 5) { edges { node { id name owner { email } } } } } } }
  }
`;

export interface StatementsResult {
  query: string;
  rows: { entities: number; statements: number; bySubgraph: Record<string, number> }[];
}

async function statementTotals(stack: Stack): Promise<Record<string, number>> {
  const subgraphs = { auth: stack.auth, workflows: stack.workflows, notifications: stack.notifications, scheduler: stack.scheduler };
  const totals: Record<string, number> = {};
  for (const [name, subgraph] of Object.entries(subgraphs)) {
    const metric = await subgraph.metrics.requestStatements.get();
    totals[name] = metric.values.find((value) => value.metricName === 'graphql_request_database_statements_sum')?.value ?? 0;
  }
  return totals;
}

/** Seeds tenants of each size (one registered owner, the rest inserted directly) and counts each request's statements. */
export async function measureStatements(sizes: number[]): Promise<StatementsResult> {
  const stack = await startStack('embedded', 'bench_statements');
  try {
    const rows: StatementsResult['rows'] = [];
    for (const size of sizes) {
      const registered = (
        await postGraphQL(stack.gateway.graphqlUrl, RegisterDocument, {
          variables: {
            input: {
              email: `owner-${randomUUID()}@example.com`,
              password: 'benchmark password',
              name: 'Owner',
              tenantName: `Tenant of ${size}`,
            },
          },
        })
      ).data?.register;
      if (registered?.__typename !== 'AuthSession') throw new Error('registration failed');
      const token = registered.accessToken;
      const created = await postGraphQL(stack.gateway.graphqlUrl, CreateWorkflowDocument, {
        token,
        variables: { input: { name: 'Counted', steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }] } },
      });
      if (created.data?.createWorkflow.__typename !== 'Workflow') throw new Error('createWorkflow failed');

      // Registering runs a password hash per user, which would make seeding a thousand users take minutes.
      const em = systemFork(stack.auth.database);
      const owner = await em.findOneOrFail(Membership, { user: registered.user.id });
      for (let index = 1; index < size; index++) {
        const user = em.create(User, { email: `member-${randomUUID()}@example.com`, name: `Member ${index}`, passwordHash: 'not-a-hash' });
        em.create(Membership, { tenant: owner.tenant, user, role: Role.Member, lastActiveAt: null });
      }
      await em.flush();

      const before = await statementTotals(stack);
      const response = await postGraphQL<{ me: { tenant: { users: unknown[] } } }>(stack.gateway.graphqlUrl, TENANT_USERS_QUERY, { token });
      if (response.errors || response.data?.me.tenant.users.length !== size)
        throw new Error(`the query failed: ${JSON.stringify(response.errors)}`);
      const after = await statementTotals(stack);
      const bySubgraph: Record<string, number> = {};
      for (const name of Object.keys(after)) if (after[name] !== before[name]) bySubgraph[name] = after[name]! - before[name]!;
      rows.push({ entities: size, statements: Object.values(bySubgraph).reduce((sum, count) => sum + count, 0), bySubgraph });
      console.log(`  ${size} users: ${rows.at(-1)!.statements} statements`);
    }
    return { query: TENANT_USERS_QUERY, rows };
  } finally {
    await stack.close();
  }
}
