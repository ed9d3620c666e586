import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const TENANT_KEY = '{ tenantKey { currentVersion versions { id version state } } }';
const AUDIT = '{ keyAuditEvents(first: 100) { edges { node { action keyVersion } } } }';
const ROTATE = 'mutation { rotateTenantKey { currentVersion versions { id } } }';
const DESTROY = `mutation ($version: Int!) { destroyTenantKeyVersion(version: $version) {
  __typename ... on KeyVersionNotFound { version } ... on KeyVersionInUse { version } } }`;

/**
 * Tenant B (a stranger) never sees, nor changes, tenant A's key: run by test/integration/tenant-isolation.test.ts.
 * Tenant A's key is made by rotating it (its first use), as a service's first encryption would.
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const rotated = (await data(a, ROTATE)).rotateTenantKey as { versions: { id: string }[] };
    return { versionId: rotated.versions[0]!.id };
  },
  stateOfA: async ({ a, data }) => ({ key: await data(a, TENANT_KEY), audit: await data(a, AUDIT) }),
  root: {
    'Query.tenantKey': async ({ b, data }) => {
      expect((await data(b, TENANT_KEY)).tenantKey).toBeNull();
    },
    'Query.keyAuditEvents': async ({ b, data }) => {
      expect((await data(b, AUDIT)).keyAuditEvents).toEqual({ edges: [] });
    },
    'Mutation.rotateTenantKey': async ({ b, data }) => {
      // B's rotation moves B's own key on by one (other services' cases may have made it already, by encrypting for B);
      // A's stays as it was (stateOfA).
      const current = ((await data(b, TENANT_KEY)).tenantKey?.currentVersion as number | undefined) ?? 0;
      expect((await data(b, ROTATE)).rotateTenantKey.currentVersion).toBe(current + 1);
    },
    'Mutation.destroyTenantKeyVersion': async ({ b, data }) => {
      // A version B's key does not have yet: not found for B, whatever A's key holds.
      const version = (((await data(b, TENANT_KEY)).tenantKey?.currentVersion as number | undefined) ?? 0) + 1;
      expect((await data(b, DESTROY, { version })).destroyTenantKeyVersion).toEqual({ __typename: 'KeyVersionNotFound', version });
    },
  },
  entities: { TenantKeyVersion: { selection: '... on TenantKeyVersion { id version state }', id: ({ versionId }) => versionId } },
});
