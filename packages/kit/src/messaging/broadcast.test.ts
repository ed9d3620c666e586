import { describe, it, expect } from 'vitest';
import { Broadcast, type BroadcastGroup } from './broadcast.ts';

/** A source that records its starts and stops, and publishes to the group it was started with. */
function recordingSource<T>() {
  const source = { starts: 0, stops: 0, group: undefined as BroadcastGroup<T> | undefined };
  return {
    source,
    hooks: {
      onFirst: (group: BroadcastGroup<T>) => {
        source.starts += 1;
        source.group = group;
      },
      onLast: () => {
        source.stops += 1;
      },
    },
  };
}

describe('Broadcast', () => {
  it('hands each value of a key to every subscriber of that key, in order, and to no one else', async () => {
    const broadcast = new Broadcast<number>();
    const first = broadcast.subscribe('execution-1');
    const second = broadcast.subscribe('execution-1');
    const other = broadcast.subscribe('execution-2');

    broadcast.publish('execution-1', 1);
    broadcast.publish('execution-1', 2);
    broadcast.publish('execution-2', 20);

    expect(await first.next()).toEqual({ value: 1, done: false });
    expect(await first.next()).toEqual({ value: 2, done: false });
    expect(await second.next()).toEqual({ value: 1, done: false });
    expect(await second.next()).toEqual({ value: 2, done: false });
    expect(await other.next()).toEqual({ value: 20, done: false });
  });

  it('starts a key’s source with its first subscriber only, and stops it once, when the last one leaves', async () => {
    const broadcast = new Broadcast<number>();
    const { source, hooks } = recordingSource<number>();
    const first = broadcast.subscribe('topic', hooks);
    const second = broadcast.subscribe('topic', recordingSource<number>().hooks);
    expect(source.starts).toBe(1);

    await first.return();
    expect(source.stops).toBe(0);
    source.group!.publish(1);
    expect(await second.next()).toEqual({ value: 1, done: false });

    await second.return();
    expect(source.stops).toBe(1);
    expect(broadcast.has('topic')).toBe(false);
  });

  it('replays the latest value to a subscriber that joins later, when asked to', async () => {
    const replaying = new Broadcast<string>({ replayLatest: true });
    const plain = new Broadcast<string>();
    for (const broadcast of [replaying, plain]) {
      broadcast.subscribe('execution');
      broadcast.publish('execution', 'running');
      broadcast.publish('execution', 'succeeded');
    }

    const lateToReplaying = replaying.subscribe('execution');
    const lateToPlain = plain.subscribe('execution');
    replaying.publish('execution', 'archived');
    plain.publish('execution', 'archived');

    expect(await lateToReplaying.next()).toEqual({ value: 'succeeded', done: false });
    expect(await lateToReplaying.next()).toEqual({ value: 'archived', done: false });
    expect(await lateToPlain.next()).toEqual({ value: 'archived', done: false });
  });

  it('ends every subscriber of a group after what each has buffered, stops its source, and starts afresh for the next subscriber', async () => {
    const broadcast = new Broadcast<number>({ replayLatest: true });
    const { source, hooks } = recordingSource<number>();
    const subscriber = broadcast.subscribe('topic', hooks);
    const ended = source.group!;
    ended.publish(1);

    ended.end();

    expect(await subscriber.next()).toEqual({ value: 1, done: false });
    expect(await subscriber.next()).toEqual({ value: undefined, done: true });
    expect(source.stops).toBe(1);
    const next = broadcast.subscribe('topic', hooks);
    expect(source.starts).toBe(2);
    // The ended group's source publishing late reaches no one, and the new group replays nothing of the old one.
    ended.publish(2);
    source.group!.publish(3);
    expect(await next.next()).toEqual({ value: 3, done: false });
  });

  it('makes every subscriber of a group ended with an error throw it', async () => {
    const broadcast = new Broadcast<number>();
    const subscriber = broadcast.subscribe('topic');

    broadcast.end('topic', new Error('the source refused the subscription'));

    await expect(subscriber.next()).rejects.toThrow('the source refused the subscription');
  });

  it('skips the values a subscriber does not accept', async () => {
    const broadcast = new Broadcast<number | string>();
    const numbers = broadcast.subscribe('topic', { accepts: (value) => typeof value === 'number' });
    const everything = broadcast.subscribe('topic');

    broadcast.publish('topic', 'marker');
    broadcast.publish('topic', 1);

    expect(await numbers.next()).toEqual({ value: 1, done: false });
    expect(await everything.next()).toEqual({ value: 'marker', done: false });
  });

  it('keeps only the keys that have subscribers, however many came and went', async () => {
    const broadcast = new Broadcast<number>();
    for (let index = 0; index < 100; index++) await broadcast.subscribe(`identity-${index}`).return();
    const staying = broadcast.subscribe('identity-staying');

    expect(broadcast.size).toBe(1);
    expect(broadcast.keys()).toEqual(['identity-staying']);
    await staying.return();
    expect(broadcast.size).toBe(0);
  });

  it('forgets a key whose source could not start, without stopping what never started', () => {
    const broadcast = new Broadcast<number>();
    let stops = 0;

    expect(() =>
      broadcast.subscribe('topic', {
        onFirst: () => {
          throw new Error('no such subgraph');
        },
        onLast: () => stops++,
      }),
    ).toThrow('no such subgraph');

    expect(broadcast.has('topic')).toBe(false);
    expect(stops).toBe(0);
  });
});
