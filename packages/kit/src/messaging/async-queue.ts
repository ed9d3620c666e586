export class QueueOverflowError extends Error {
  constructor(limit: number) {
    super(`Consumer fell more than ${limit} events behind`);
    this.name = 'QueueOverflowError';
  }
}

export interface AsyncQueue<T> extends AsyncIterableIterator<T> {
  push(value: T): void;
  /** Ends iteration after the buffered values; with an error, iteration throws it instead. */
  end(error?: Error): void;
  /** Stops consuming: drops what is buffered and runs `onReturn`. */
  return(): Promise<IteratorResult<T>>;
}

/**
 * A push-to-pull bridge: producers push, one consumer iterates. The buffer is bounded so that a
 * stalled consumer fails loudly instead of growing the process's memory without limit.
 */
export function createAsyncQueue<T>(options: { limit?: number; onReturn?: () => void } = {}): AsyncQueue<T> {
  const limit = options.limit ?? 1000;
  const buffer: T[] = [];
  const waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void }[] = [];
  /** No more values will be accepted; `onReturn` has run. */
  let closed = false;
  /** Thrown once to the consumer, after the buffered values. */
  let failure: Error | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    options.onReturn?.();
  };
  const done = (): IteratorResult<T> => ({ value: undefined, done: true });

  const queue: AsyncQueue<T> = {
    push(value) {
      if (closed) return;
      const consumer = waiting.shift();
      if (consumer) return consumer.resolve({ value, done: false });
      if (buffer.length >= limit) return queue.end(new QueueOverflowError(limit));
      buffer.push(value);
    },
    end(error) {
      if (closed) return;
      failure = error;
      close();
      // Consumers only wait when the buffer is empty, so the error (or the end) is theirs now.
      for (const consumer of waiting.splice(0)) {
        if (failure) {
          consumer.reject(failure);
          failure = undefined;
        } else consumer.resolve(done());
      }
    },
    next() {
      if (buffer.length > 0) return Promise.resolve({ value: buffer.shift() as T, done: false });
      if (failure) {
        const error = failure;
        failure = undefined;
        return Promise.reject(error);
      }
      if (closed) return Promise.resolve(done());
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      buffer.length = 0;
      failure = undefined;
      for (const consumer of waiting.splice(0)) consumer.resolve(done());
      close();
      return Promise.resolve(done());
    },
    [Symbol.asyncIterator]() {
      return queue;
    },
  };
  return queue;
}

/** Returned by a {@link transformIterator} step to drop a value. */
export const SKIP: unique symbol = Symbol('skip');

/** Returned by a {@link transformIterator} step to end the iterator there, releasing its source: what it watched is gone. */
export const END: unique symbol = Symbol('end');

/** Several values for one, from a {@link transformIterator} step: made by {@link many}. */
export class Many<U> {
  constructor(readonly values: readonly U[]) {}
}

/** Returned by a {@link transformIterator} step to put several values (or none) in the place of one. */
export function many<U>(values: readonly U[]): Many<U> {
  return new Many(values);
}

/**
 * Maps and filters an async iterator, with a `return()` that takes effect at once. An async generator
 * cannot do this: its `return()` waits until the generator reaches its next `yield`, so a subscription
 * waiting for an event that never comes would never release its source (a pub/sub listener, an
 * upstream subscription) when its client leaves.
 */
export function transformIterator<T, U>(
  source: AsyncIterator<T>,
  step: (value: T) => Promise<U | typeof SKIP | typeof END | Many<U>> | U | typeof SKIP | typeof END | Many<U>,
  options: { first?: U[] } = {},
): AsyncIterableIterator<U> {
  /** Values due before the next one is pulled from the source: `first`, then the rest of a step's {@link many}. */
  const pending = [...(options.first ?? [])];
  let finished = false;
  const done = (): IteratorResult<U> => ({ value: undefined, done: true });
  const iterator: AsyncIterableIterator<U> = {
    async next() {
      if (pending.length > 0) return { value: pending.shift() as U, done: false };
      while (!finished) {
        const result = await source.next();
        if (result.done) {
          finished = true;
          break;
        }
        const value = await step(result.value);
        if (value === END) {
          finished = true;
          await source.return?.();
          break;
        }
        if (value instanceof Many) pending.push(...value.values);
        else if (value !== SKIP) return { value, done: false };
        if (pending.length > 0) return { value: pending.shift() as U, done: false };
      }
      return done();
    },
    async return() {
      finished = true;
      pending.length = 0;
      await source.return?.();
      return done();
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
