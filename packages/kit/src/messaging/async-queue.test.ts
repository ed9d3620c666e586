import { describe, it, expect, vi } from 'vitest';
import { createAsyncQueue, END, many, QueueOverflowError, SKIP, transformIterator } from './async-queue.ts';

describe('createAsyncQueue', () => {
  it('hands out buffered values in the order they were pushed', async () => {
    const queue = createAsyncQueue<number>();
    queue.push(1);
    queue.push(2);
    queue.push(3);

    expect(await queue.next()).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: 2, done: false });
    expect(await queue.next()).toEqual({ value: 3, done: false });
  });

  it('resolves consumers that are already waiting in the order they asked', async () => {
    const queue = createAsyncQueue<string>();
    const first = queue.next();
    const second = queue.next();

    queue.push('a');
    queue.push('b');

    expect(await first).toEqual({ value: 'a', done: false });
    expect(await second).toEqual({ value: 'b', done: false });
  });

  it('is its own async iterator, so for-await reads it until end()', async () => {
    const queue = createAsyncQueue<number>();
    expect(queue[Symbol.asyncIterator]()).toBe(queue);
    queue.push(1);
    queue.push(2);
    queue.end();

    const seen: number[] = [];
    for await (const value of queue) seen.push(value);
    expect(seen).toEqual([1, 2]);
  });

  describe('back-pressure', () => {
    it('fails with QueueOverflowError once more than `limit` values are buffered, after delivering the buffered ones', async () => {
      const onReturn = vi.fn();
      const queue = createAsyncQueue<number>({ limit: 2, onReturn });
      queue.push(1);
      queue.push(2);
      expect(onReturn).not.toHaveBeenCalled();

      queue.push(3);

      expect(onReturn).toHaveBeenCalledTimes(1);
      expect(await queue.next()).toEqual({ value: 1, done: false });
      expect(await queue.next()).toEqual({ value: 2, done: false });
      const failure = await queue.next().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(QueueOverflowError);
      expect(failure).toMatchObject({ name: 'QueueOverflowError', message: 'Consumer fell more than 2 events behind' });
    });

    it('ignores values pushed after it overflowed', async () => {
      const onReturn = vi.fn();
      const queue = createAsyncQueue<number>({ limit: 1, onReturn });
      queue.push(1);
      queue.push(2);
      queue.push(3);

      expect(onReturn).toHaveBeenCalledTimes(1);
      expect(await queue.next()).toEqual({ value: 1, done: false });
      await expect(queue.next()).rejects.toBeInstanceOf(QueueOverflowError);
    });

    it('does not count values handed straight to a waiting consumer against the limit', async () => {
      const queue = createAsyncQueue<number>({ limit: 1 });
      const waiting = [queue.next(), queue.next(), queue.next()];
      queue.push(1);
      queue.push(2);
      queue.push(3);
      queue.push(4);

      expect(await Promise.all(waiting)).toEqual([
        { value: 1, done: false },
        { value: 2, done: false },
        { value: 3, done: false },
      ]);
      expect(await queue.next()).toEqual({ value: 4, done: false });
    });

    it('allows 1000 buffered values by default and overflows on the 1001st', async () => {
      const queue = createAsyncQueue<number>();
      for (let index = 0; index < 1000; index += 1) queue.push(index);
      queue.push(1000);

      for (let index = 0; index < 1000; index += 1) expect(await queue.next()).toEqual({ value: index, done: false });
      await expect(queue.next()).rejects.toThrow('Consumer fell more than 1000 events behind');
    });
  });

  describe('return()', () => {
    it('calls onReturn exactly once, however often it is called', async () => {
      const onReturn = vi.fn();
      const queue = createAsyncQueue<number>({ onReturn });

      expect(await queue.return()).toEqual({ value: undefined, done: true });
      await queue.return();

      expect(onReturn).toHaveBeenCalledTimes(1);
    });

    it('finishes a consumer that is waiting for the next value', async () => {
      const queue = createAsyncQueue<number>();
      const waiting = queue.next();

      await queue.return();

      expect(await waiting).toEqual({ value: undefined, done: true });
    });

    it('discards buffered values and ignores later pushes', async () => {
      const queue = createAsyncQueue<number>();
      queue.push(1);

      await queue.return();
      queue.push(2);

      expect(await queue.next()).toEqual({ value: undefined, done: true });
    });

    it('does not call onReturn again after end() already finished the queue', async () => {
      const onReturn = vi.fn();
      const queue = createAsyncQueue<number>({ onReturn });
      queue.end();
      await queue.return();

      expect(onReturn).toHaveBeenCalledTimes(1);
    });
  });

  describe('end()', () => {
    it('lets the consumer read the buffered values before reporting done', async () => {
      const onReturn = vi.fn();
      const queue = createAsyncQueue<string>({ onReturn });
      queue.push('a');
      queue.push('b');

      queue.end();

      expect(onReturn).toHaveBeenCalledTimes(1);
      expect(await queue.next()).toEqual({ value: 'a', done: false });
      expect(await queue.next()).toEqual({ value: 'b', done: false });
      expect(await queue.next()).toEqual({ value: undefined, done: true });
    });

    it('finishes a consumer that is waiting and ignores values pushed afterwards', async () => {
      const queue = createAsyncQueue<string>();
      const waiting = queue.next();

      queue.end();
      queue.push('late');

      expect(await waiting).toEqual({ value: undefined, done: true });
      expect(await queue.next()).toEqual({ value: undefined, done: true });
    });

    it('is a no-op the second time', () => {
      const onReturn = vi.fn();
      const queue = createAsyncQueue<string>({ onReturn });
      queue.end();
      queue.end();
      queue.end(new Error('too late'));

      expect(onReturn).toHaveBeenCalledTimes(1);
    });
  });

  describe('end(error)', () => {
    it('rejects a consumer that is waiting with that error', async () => {
      const onReturn = vi.fn();
      const queue = createAsyncQueue<number>({ onReturn });
      const waiting = queue.next();
      const error = new Error('upstream closed');

      queue.end(error);

      await expect(waiting).rejects.toBe(error);
      expect(onReturn).toHaveBeenCalledTimes(1);
    });

    it('delivers the buffered values first, then throws the error', async () => {
      const queue = createAsyncQueue<number>();
      queue.push(1);
      queue.push(2);
      const error = new Error('upstream closed');

      queue.end(error);

      expect(await queue.next()).toEqual({ value: 1, done: false });
      expect(await queue.next()).toEqual({ value: 2, done: false });
      await expect(queue.next()).rejects.toBe(error);
    });

    it('makes a for-await loop throw the error after the buffered values', async () => {
      const queue = createAsyncQueue<number>();
      queue.push(1);
      queue.end(new Error('upstream closed'));

      const seen: number[] = [];
      const consume = async () => {
        for await (const value of queue) seen.push(value);
      };

      await expect(consume()).rejects.toThrow('upstream closed');
      expect(seen).toEqual([1]);
    });

    it('ignores later pushes and later end() calls', async () => {
      const queue = createAsyncQueue<number>();
      const error = new Error('first');
      queue.end(error);
      queue.push(1);
      queue.end();

      await expect(queue.next()).rejects.toBe(error);
    });
  });
});

describe('createAsyncQueue after a failure', () => {
  it('calls onReturn once when end(error) is followed by return(), and then reports done', async () => {
    const onReturn = vi.fn();
    const queue = createAsyncQueue<number>({ onReturn });
    queue.end(new Error('upstream closed'));
    await queue.return();
    expect(onReturn).toHaveBeenCalledTimes(1);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });
});

describe('transformIterator', () => {
  it('maps and drops values, after the values it was told to send first', async () => {
    const source = createAsyncQueue<number>();
    const evens = transformIterator(source, (n) => (n % 2 === 0 ? n * 10 : SKIP), { first: [0] });
    for (const n of [1, 2, 3, 4]) source.push(n);
    source.end();
    const seen: number[] = [];
    for await (const value of evens) seen.push(value);
    expect(seen).toEqual([0, 20, 40]);
  });

  it('puts the values of a step that returned many() in the place of one, in order, and none for an empty many()', async () => {
    const source = createAsyncQueue<number>();
    const repeated = transformIterator(source, (n) => many(Array.from({ length: n }, () => n)), { first: [0] });
    for (const n of [2, 0, 3]) source.push(n);
    source.end();
    const seen: number[] = [];
    for await (const value of repeated) seen.push(value);
    expect(seen).toEqual([0, 2, 2, 3, 3, 3]);
  });

  it('ends where a step returns END, releasing its source though it has more', async () => {
    const onReturn = vi.fn();
    const source = createAsyncQueue<number>({ onReturn });
    const untilZero = transformIterator(source, (n) => (n === 0 ? END : n));
    for (const n of [1, 2, 0, 3]) source.push(n);
    const seen: number[] = [];
    for await (const value of untilZero) seen.push(value);
    expect(seen).toEqual([1, 2]);
    expect(onReturn).toHaveBeenCalledOnce();
  });

  it('releases its source at once when returned while waiting for a value that never comes', async () => {
    const onReturn = vi.fn();
    const source = createAsyncQueue<number>({ onReturn });
    const iterator = transformIterator(source, (n) => n);
    const pending = iterator.next();
    await iterator.return?.();
    expect(onReturn).toHaveBeenCalledTimes(1);
    expect(await pending).toEqual({ value: undefined, done: true });
  });
});
