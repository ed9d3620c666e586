import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../platform/outages.ts';
import { createTelemetry, inSpan, startSpan } from '../platform/telemetry.ts';
import { InMemorySpanExporter } from '../testing/traces.ts';
import { GroupCommit } from './group-commit.ts';

/** A write the test completes by hand, recording the batches it was given. */
function controlledWrite() {
  const batches: number[][] = [];
  const pending: { items: readonly number[]; resolve: (results: string[]) => void; reject: (error: unknown) => void }[] = [];
  const write = (items: readonly number[]) => {
    batches.push([...items]);
    return new Promise<string[]>((resolve, reject) => pending.push({ items, resolve, reject }));
  };
  const completeNext = () => {
    const { items, resolve } = pending.shift()!;
    resolve(items.map((item) => `wrote ${item}`));
  };
  return { write, batches, pending, completeNext };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('writes the items added in one turn together, each getting its own result', async () => {
    const writes = controlledWrite();
    const commit = new GroupCommit(writes.write);

    const results = [1, 2, 3].map((item) => commit.add(item));
    await nextTurn();
    expect(writes.batches).toEqual([[1, 2, 3]]);
    writes.completeNext();

    expect(await Promise.all(results)).toEqual(['wrote 1', 'wrote 2', 'wrote 3']);
  });

  it('keeps one write in flight, and writes what arrived meanwhile together as soon as it ends', async () => {
    const writes = controlledWrite();
    const commit = new GroupCommit(writes.write);
    const first = commit.add(1);
    await nextTurn();

    const later = [2, 3, 4].map((item) => commit.add(item));
    await nextTurn();
    expect(writes.batches).toEqual([[1]]);
    expect(commit.backlog).toBe(3);
    writes.completeNext();
    await first;
    await nextTurn();

    expect(writes.batches).toEqual([[1], [2, 3, 4]]);
    writes.completeNext();
    expect(await Promise.all(later)).toEqual(['wrote 2', 'wrote 3', 'wrote 4']);
  });

  it('takes at most maxBatch items a write, in the order they came', async () => {
    const writes = controlledWrite();
    const commit = new GroupCommit(writes.write, { maxBatch: 2 });

    const results = [1, 2, 3, 4, 5].map((item) => commit.add(item));
    await nextTurn();
    writes.completeNext();
    await results[1];
    await nextTurn();
    writes.completeNext();
    await results[3];
    await nextTurn();
    writes.completeNext();

    expect(await Promise.all(results)).toHaveLength(5);
    expect(writes.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('writes the items of a failed batch again one at a time, so that only the one that cannot be written fails', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit(async (items: readonly number[]) => {
      batches.push([...items]);
      if (items.includes(2)) throw new Error(`cannot write ${items.join(', ')}`);
      return items.map((item) => `wrote ${item}`);
    });

    const results = [1, 2, 3].map((item) => commit.add(item).catch((error: Error) => error.message));

    expect(await Promise.all(results)).toEqual(['wrote 1', 'cannot write 2', 'wrote 3']);
    expect(batches).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('fails a batch whole when its write fails for an outage, rather than waiting the outage out once per item', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit(async (items: readonly number[]) => {
      batches.push([...items]);
      throw new DependencyUnavailableError('the database is not answering');
    });

    const results = [1, 2, 3].map((item) => commit.add(item).catch((error: Error) => error.message));

    expect(await Promise.all(results)).toEqual(Array(3).fill('the database is not answering'));
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('writes lanes apart: a lane whose write waits holds up only its own items', async () => {
    const writes = controlledWrite();
    const commit = new GroupCommit(writes.write, { laneOf: (item: number) => (item < 10 ? 'small' : 'large') });
    const first = commit.add(1);
    await nextTurn();

    const [small, large] = [commit.add(2), commit.add(10)];
    await nextTurn();
    expect(writes.batches).toEqual([[1], [10]]);
    writes.pending.splice(1, 1)[0]!.resolve(['wrote 10']);
    expect(await large).toBe('wrote 10');

    writes.completeNext();
    await first;
    await nextTurn();
    writes.completeNext();
    expect(await small).toBe('wrote 2');
    expect(writes.batches).toEqual([[1], [10], [2]]);
  });

  it('fails the batch when the write returns a result per item no more', async () => {
    const commit = new GroupCommit(async (items: readonly number[]) => items.slice(1));

    await expect(commit.add(1)).rejects.toThrow('a group write returned 0 results for 1 items');
  });

  it("writes a batch of several traced items in the first one's trace, in a span linked to the others'", async () => {
    const spans = new InMemorySpanExporter();
    const telemetry = createTelemetry(
      { serviceName: 'audit', tracesEndpoint: undefined, headers: {}, parentBased: true, ratio: 1 },
      { exporter: spans },
    );
    const commit = new GroupCommit(
      async (items: readonly number[]) => {
        startSpan('INSERT entries')?.end();
        return items.map((item) => `wrote ${item}`);
      },
      { name: 'entries batch' },
    );

    await telemetry.run(() => Promise.all([1, 2].map((item) => inSpan(`consume ${item}`, {}, () => commit.add(item)))));

    const [first, second, batch, insert] = ['consume 1', 'consume 2', 'entries batch', 'INSERT entries'].map((name) =>
      spans.getFinishedSpans().find((span) => span.name === name)!,
    );
    expect(batch!.parentSpanContext?.spanId).toBe(first!.spanContext().spanId);
    expect(batch!.links.map((link) => link.context.spanId)).toEqual([second!.spanContext().spanId]);
    expect(batch!.attributes['batch.size']).toBe(2);
    expect(insert!.parentSpanContext?.spanId).toBe(batch!.spanContext().spanId);
    await telemetry.shutdown();
  });
});
