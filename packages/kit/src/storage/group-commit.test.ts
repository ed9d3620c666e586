import { describe, expect, it } from 'vitest';
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
    writes.completeNext();
    await results[3];
    writes.completeNext();

    expect(await Promise.all(results)).toHaveLength(5);
    expect(writes.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails every item of a failed write, and goes on with the next batch', async () => {
    const writes = controlledWrite();
    const commit = new GroupCommit(writes.write);
    const failed = [1, 2].map((item) => commit.add(item));
    await nextTurn();
    const next = commit.add(3);

    writes.pending.shift()!.reject(new Error('connection lost'));

    for (const result of failed) await expect(result).rejects.toThrow('connection lost');
    writes.completeNext();
    expect(await next).toBe('wrote 3');
  });

  it('fails the batch when the write returns a result per item no more', async () => {
    const commit = new GroupCommit(async (items: readonly number[]) => items.slice(1));

    await expect(commit.add(1)).rejects.toThrow('a group write returned 0 results for 1 items');
  });
});
