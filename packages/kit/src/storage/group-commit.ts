export interface GroupCommitOptions {
  /** The most items one write takes; the rest wait for the next write. @default 500 */
  maxBatch?: number;
}

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Writes items a batch at a time, one write in flight (a group commit): the items that arrive while a write is in
 * flight wait for it and go together in the next. An item that comes alone is written on the next turn of the event
 * loop, with whatever else arrived in that turn; under load, batches grow by themselves, so that the statements and
 * transactions per item fall as the load rises rather than queueing up one per item. Each item's promise settles with
 * its own result, or with its batch's failure.
 */
export class GroupCommit<Item, Result> {
  private readonly maxBatch: number;
  private waiting: Waiting<Item, Result>[] = [];
  private writing = false;
  private scheduled = false;

  /** @param write writes the items, in the order given, and returns one result per item, in that order */
  constructor(
    private readonly write: (items: readonly Item[]) => Promise<readonly Result[]>,
    options: GroupCommitOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1)
      throw new RangeError(`maxBatch must be a positive integer, got ${this.maxBatch}`);
  }

  /** Items added and not yet written, the write in flight excepted. */
  get backlog(): number {
    return this.waiting.length;
  }

  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.writeNext();
    });
  }

  private async writeNext(): Promise<void> {
    if (this.writing || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0, this.maxBatch);
    this.writing = true;
    try {
      const results = await this.write(batch.map(({ item }) => item));
      if (results.length !== batch.length) throw new Error(`a group write returned ${results.length} results for ${batch.length} items`);
      for (const [index, waiting] of batch.entries()) waiting.resolve(results[index]!);
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      this.writing = false;
      // What arrived meanwhile is written at once: it has waited a whole write already.
      if (this.waiting.length > 0) void this.writeNext();
    }
  }
}
