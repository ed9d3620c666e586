import { randomUUID } from 'node:crypto';
import { describeMalformedIds, MALFORMED_ID } from '@nexusflow/kit/testing';
import { subgraph as audit } from '../src/subgraph.ts';

const RECORD = `mutation ($records: [GatewayAuditRecordInput!]!) { recordGatewayAuditRecords(records: $records) { appended } }`;

describeMalformedIds('audit', {
  start: (env) => audit.start(env),
  env: { AUDIT_PRUNE_INTERVAL_MS: '0' },
  // No argument of the API is an id: `actor` is matched as given (user or API key id), and cursors are not ids. The
  // gateway's records are recognised by their id when delivered again, so one that is no UUID is refused.
  cases: [
    {
      operation: 'recordGatewayAuditRecords(records: [{ id }])',
      query: RECORD,
      variables: (caller) => ({
        records: [
          {
            id: MALFORMED_ID,
            tenantId: caller.tenantId,
            occurredAt: new Date().toISOString(),
            source: 'MUTATION',
            actor: { kind: 'USER', id: randomUUID() },
            roles: [],
            action: 'mutation.example',
            outcome: 'SUCCESS',
            errorCodes: [],
            fields: [],
            variables: {},
          },
        ],
      }),
      field: 'records.id',
    },
  ],
  entities: { AuditEntry: 'action hash' },
});
