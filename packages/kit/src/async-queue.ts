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
}

/**
 * A push-to-pull bridge: producers push, one consumer iterates. The buffer is bounded so that a
 * stalled consumer fails loudly instead of growing the process's memory without limit.
 */
export function createAsyncQueue<T>(options: { limit?: number; onReturn?: () => void } = {}): AsyncQueue<T> {
  const limit = options.limit ?? 1000;
  const buffer: T[] = [];
  const waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void }[] = [];
  let finished = false;
  let failure: Error | undefined;

  const finish = () => {
    if (finished) return;
    finished = true;
    options.onReturn?.();
  };

  const queue: AsyncQueue<T> = {
    push(value) {
      if (finished || failure) return;
      const consumer = waiting.shift();
      if (consumer) return consumer.resolve({ value, done: false });
      if (buffer.length >= limit) return queue.end(new QueueOverflowError(limit));
      buffer.push(value);
    },
    end(error) {
      if (finished || failure) return;
      if (error) failure = error;
      for (const consumer of waiting.splice(0)) {
        if (error) consumer.reject(error);
        else consumer.resolve({ value: undefined, done: true });
      }
      if (!error) finish();
      else options.onReturn?.();
    },
    next() {
      if (buffer.length > 0) return Promise.resolve({ value: buffer.shift() as T, done: false });
      if (failure) {
        const error = failure;
        finished = true;
        return Promise.reject(error);
      }
      if (finished) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      buffer.length = 0;
      for (const consumer of waiting.splice(0)) consumer.resolve({ value: undefined, done: true });
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return queue;
    },
  };
  return queue;
}
