import type { Context } from '@opentelemetry/api';
import { isDependencyOutage } from '../platform/outages.ts';
import { captureTraceContext, inBatchSpan } from '../platform/telemetry.ts';

export interface GroupCommitOptions<Item> {
  /** The name of the span a batch of several traced items is written in. @default 'group write' */
  name?: string;
  /** The most items one write takes; the rest wait for the next write. @default 500 */
  maxBatch?: number;
  /**
   * Items of different lanes are written apart, each lane with one write in flight of its own: one lane waiting (a
   * tenant's rows locked by a long transaction) holds up only its own items. @default one lane for every item
   */
  laneOf?: (item: Item) => string;
}

interface Waiting<Item, Result> {
  item: Item;
  /** The trace the item was added in: its write is part of it. */
  trace: Context | undefined;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

interface Lane<Item, Result> {
  waiting: Waiting<Item, Result>[];
  writing: boolean;
  scheduled: boolean;
}

/**
 * Writes items a batch at a time, one write in flight per lane (a group commit): the items that arrive while a write is
 * in flight wait for it and go together in the next. An item that comes alone is written on the next turn of the event
 * loop, with whatever else arrived in that turn; under load, batches grow by themselves, so that the statements and
 * transactions per item fall as the load rises rather than queueing up one per item. Each item's promise settles with
 * its own result, or with its own failure: when a batch of several fails, its items are written again one at a time,
 * in order, so that one item that can never be written (a poison message) fails alone rather than with every item that
 * happened to share its batch. A batch that fails for an outage (the database gone, a lock waited on past its timeout)
 * fails whole: no item is to blame, and writing each again would only wait out the outage once per item. A batch is
 * written in the trace of its first item, within a span linked to the others'.
 */
export class GroupCommit<Item, Result> {
  private readonly maxBatch: number;
  private readonly name: string;
  private readonly laneOf: ((item: Item) => string) | undefined;
  private readonly lanes = new Map<string, Lane<Item, Result>>();

  /** @param write writes the items, in the order given, and returns one result per item, in that order */
  constructor(
    private readonly write: (items: readonly Item[]) => Promise<readonly Result[]>,
    options: GroupCommitOptions<Item> = {},
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.name = options.name ?? 'group write';
    this.laneOf = options.laneOf;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1)
      throw new RangeError(`maxBatch must be a positive integer, got ${this.maxBatch}`);
  }

  /** Items added and not yet written, the writes in flight excepted. */
  get backlog(): number {
    let waiting = 0;
    for (const lane of this.lanes.values()) waiting += lane.waiting.length;
    return waiting;
  }

  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const name = this.laneOf?.(item) ?? '';
      let lane = this.lanes.get(name);
      if (!lane) {
        lane = { waiting: [], writing: false, scheduled: false };
        this.lanes.set(name, lane);
      }
      lane.waiting.push({ item, trace: captureTraceContext(), resolve, reject });
      this.schedule(name, lane);
    });
  }

  private schedule(name: string, lane: Lane<Item, Result>): void {
    if (lane.writing || lane.scheduled) return;
    lane.scheduled = true;
    setImmediate(() => {
      lane.scheduled = false;
      void this.writeNext(name, lane);
    });
  }

  private async writeNext(name: string, lane: Lane<Item, Result>): Promise<void> {
    if (lane.writing) return;
    if (lane.waiting.length === 0) {
      this.lanes.delete(name);
      return;
    }
    const batch = lane.waiting.splice(0, this.maxBatch);
    lane.writing = true;
    try {
      await this.writeBatch(batch);
    } finally {
      lane.writing = false;
      // What arrived meanwhile is written at once: it has waited a whole write already.
      void this.writeNext(name, lane);
    }
  }

  private async writeBatch(batch: Waiting<Item, Result>[]): Promise<void> {
    try {
      const items = batch.map(({ item }) => item);
      const results = await inBatchSpan(
        this.name,
        batch.map(({ trace }) => trace),
        () => this.write(items),
      );
      if (results.length !== batch.length) throw new Error(`a group write returned ${results.length} results for ${batch.length} items`);
      for (const [index, waiting] of batch.entries()) waiting.resolve(results[index]!);
    } catch (error) {
      if (batch.length === 1 || isDependencyOutage(error)) for (const waiting of batch) waiting.reject(error);
      else for (const waiting of batch) await this.writeBatch([waiting]);
    }
  }
}
