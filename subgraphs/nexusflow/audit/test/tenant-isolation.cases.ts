import { expect, vi } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const HOLD = 'mutation { placeLegalHold(reason: "Tenant A only") { legalHold { reason } } }';
const SETTINGS = '{ auditSettings { retentionDays legalHold { reason placedBy } } }';
const HOLDS_PLACED = `{ auditEntries(filter: { action: "mutation.placeLegalHold" }, first: 100) {
  edges { node { id sequence action actor { id } hash } }
} }`;
const REPORT = `query ($from: DateTime!, $to: DateTime!) {
  complianceReport(kind: ADMIN_ACTIONS, from: $from, to: $to) { totalEntries entries(first: 100) { id actor { id } } }
}`;

/** Tenant B (a stranger) never sees, nor changes, tenant A's trail or settings: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    await data(a, 'mutation { setAuditRetention(days: 400) { retentionDays } }');
    await data(a, HOLD);
    // The gateway's record of the mutation reaches the trail through the bus, after the response.
    const [edge] = await vi.waitFor(
      async () => {
        const { edges } = (await data(a, HOLDS_PLACED)).auditEntries;
        expect(edges).toHaveLength(1);
        return edges;
      },
      { timeout: 20_000, interval: 100 },
    );
    return { entryId: edge.node.id as string };
  },
  stateOfA: async ({ a, data }) => ({ settings: await data(a, SETTINGS), holds: await data(a, HOLDS_PLACED) }),
  root: {
    'Query.auditEntries': async ({ b, data }) => {
      expect((await data(b, HOLDS_PLACED)).auditEntries.edges).toEqual([]);
    },
    'Query.verifyAuditTrail': async ({ b, data }) => {
      expect((await data(b, '{ verifyAuditTrail { intact firstBreak { entryId } } }')).verifyAuditTrail).toEqual({
        intact: true,
        firstBreak: null,
      });
    },
    'Query.complianceReport': async ({ a, b, data }) => {
      const { complianceReport } = await data(b, REPORT, { from: '2000-01-01T00:00:00.000Z', to: '2999-01-01T00:00:00.000Z' });
      const entries = complianceReport.entries as { actor: { id: string } }[];
      expect(entries.filter(({ actor }) => actor.id === a.userId)).toEqual([]);
    },
    'Query.auditSettings': async ({ b, data }) => {
      expect((await data(b, SETTINGS)).auditSettings).toEqual({ retentionDays: null, legalHold: null });
    },
    'Mutation.setAuditRetention': async ({ b, data }) => {
      expect((await data(b, 'mutation { setAuditRetention(days: 1) { retentionDays } }')).setAuditRetention).toEqual({ retentionDays: 1 });
    },
    'Mutation.placeLegalHold': async ({ b, data }) => {
      expect((await data(b, 'mutation { placeLegalHold(reason: "Tenant B") { legalHold { reason } } }')).placeLegalHold).toEqual({
        legalHold: { reason: 'Tenant B' },
      });
    },
    'Mutation.releaseLegalHold': async ({ b, data }) => {
      expect((await data(b, 'mutation { releaseLegalHold { legalHold { reason } } }')).releaseLegalHold).toEqual({ legalHold: null });
    },
  },
  entities: { AuditEntry: { selection: '... on AuditEntry { id action hash }', id: ({ entryId }) => entryId } },
});
