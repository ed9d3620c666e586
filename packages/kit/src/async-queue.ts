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
