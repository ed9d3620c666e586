import type { EntityManager } from '@nexusflow/kit';
import type { Execution } from '../entities/execution.entity.ts';

interface SharedRead {
  /** The revision of the update the read was started for: the state it returns is at least that new. */
  revision: number;
  read: Promise<Execution | null>;
}

/**
 * The execution as an update's subscribers see it, read once for all of them. One update reaches every subscription of
 * its execution at once (a thousand users of a tenant watching one run); each resolves `execution`, and each read of the
 * row would be the same. A read started for revision r (after that update was committed) answers every subscription of
 * the tenant resolving an update of revision r or older, so nobody is answered with a state older than its update; an
 * update of a later revision starts a new read.
 */
export class SharedExecutionReads {
  private readonly reads = new Map<string, SharedRead>();

  /**
   * @param readCurrent Reads the execution as stored now (`ExecutionService.findCurrent`).
   * @param limit Executions whose latest read is kept; the longest unread goes first. @default 1000
   */
  constructor(
    private readonly readCurrent: (em: EntityManager, id: string) => Promise<Execution | null>,
    private readonly limit = 1000,
  ) {}

  /** The execution `id` of `tenantId` as of `revision` or later, read through `em` (scoped to that tenant) when needed. */
  read(em: EntityManager, tenantId: string, id: string, revision: number): Promise<Execution | null> {
    const key = `${tenantId}:${id}`;
    const shared = this.reads.get(key);
    if (shared && shared.revision >= revision) {
      this.reads.delete(key);
      this.reads.set(key, shared);
      return shared.read;
    }
    const read = this.readCurrent(em, id);
    const entry = { revision, read };
    this.reads.delete(key);
    this.reads.set(key, entry);
    if (this.reads.size > this.limit) this.reads.delete(this.reads.keys().next().value!);
    // A failed read is not shared with later updates: they try again.
    read.catch(() => {
      if (this.reads.get(key) === entry) this.reads.delete(key);
    });
    return read;
  }
}
