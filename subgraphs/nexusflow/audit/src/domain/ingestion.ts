import { badUserInput, GroupCommit, requireUuid, systemFork, type DomainEvent, type Forkable } from '@nexusflow/kit';
import type { AuditEntry } from '../entities/audit-entry.entity.ts';
import type { GatewayAuditRecordInput, GatewayAuditRecordsReceipt } from '../__generated__/resolvers-types.ts';
import { entryOfEvent, GATEWAY_RECORD_TYPE } from './events.ts';
import type { AuditTrail, NewAuditEntry } from './trail.ts';

export type Ingested = 'appended' | 'alreadyRecorded' | 'ignored';

/** More than a gateway sends at once (it sends at most 64), and few enough to append within one request's time. */
export const MAX_GATEWAY_RECORDS_PER_CALL = 500;

/** A record the gateway delivered over HTTP, as it would have published it on the bus. */
function eventOfGatewayRecord({ id, tenantId, occurredAt, ...record }: GatewayAuditRecordInput): DomainEvent {
  return { id, type: GATEWAY_RECORD_TYPE, occurredAt: occurredAt.toISOString(), tenantId, payload: { ...record } };
}

/**
 * The one way into the trail, whichever way a record came: an event from the bus, or a gateway record delivered over
 * HTTP. Either is appended at most once by its id, so that a redelivery (the bus's, or a retry after a lost reply)
 * appends nothing.
 */
export class AuditIngestion {
  /** The events of the bus that arrive together are appended together: one transaction, not one each. */
  private readonly appends: GroupCommit<NewAuditEntry, AuditEntry | undefined>;

  constructor(
    private readonly trail: AuditTrail,
    private readonly database: Forkable,
  ) {
    // A lane per tenant: a tenant whose chain head is locked for long (retention pruning) holds up only its own events.
    this.appends = new GroupCommit((entries) => this.trail.appendAll(systemFork(this.database), entries), {
      name: 'audit append',
      laneOf: (entry) => entry.tenantId.toLowerCase(),
    });
  }

  async ingest(event: DomainEvent): Promise<Ingested> {
    const entry = entryOfEvent(event);
    if (!entry) return 'ignored';
    return (await this.appends.add(entry)) ? 'appended' : 'alreadyRecorded';
  }

  /**
   * Appends the gateway's records in one transaction, in the order given, so that each tenant's trail keeps the order
   * they happened in: all or none. After a failure the gateway delivers the whole batch again, and a retry of one whose
   * reply was lost finds each record by its id.
   */
  async ingestGatewayRecords(records: readonly GatewayAuditRecordInput[]): Promise<GatewayAuditRecordsReceipt> {
    if (records.length > MAX_GATEWAY_RECORDS_PER_CALL)
      throw badUserInput(`At most ${MAX_GATEWAY_RECORDS_PER_CALL} records a call`, { field: 'records' });
    // Without a UUID the trail could not recognise the record when it is delivered again.
    for (const record of records) requireUuid(record.id, 'records.id');
    const entries = records.flatMap((record) => entryOfEvent(eventOfGatewayRecord(record)) ?? []);
    const receipt: GatewayAuditRecordsReceipt = { appended: 0, alreadyRecorded: 0, ignored: records.length - entries.length };
    for (const appended of await this.trail.appendAll(systemFork(this.database), entries))
      receipt[appended ? 'appended' : 'alreadyRecorded'] += 1;
    return receipt;
  }
}
