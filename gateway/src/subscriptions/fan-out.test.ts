import { describe, expect, it } from 'vitest';
import { recordingLogger } from '@nexusflow/kit/testing';
import { FanOut, type FanOutSink } from './fan-out.ts';

/** What every sink was handed, in the order it was handed: `<sink>:<event>`, and `<sink>:end`. */
function recorder() {
  const handed: string[] = [];
  const sink = (name: string, channel?: object): FanOutSink<string> => ({
    next: (event) => handed.push(`${name}:${event}`),
    end: () => handed.push(`${name}:end`),
    ...(channel ? { channel } : {}),
  });
  return { handed, sink };
}

describe('FanOut', () => {
  it("hands each event to every sink in order, one channel's sinks one after another", async () => {
    const { handed, sink } = recorder();
    const fanOut = new FanOut<string>({ logger: recordingLogger().logger });
    const [first, second] = [{}, {}];
    for (const [name, channel] of [
      ['a1', first],
      ['b1', second],
      ['a2', first],
    ] as const)
      fanOut.add(sink(name, channel));

    fanOut.publish(['e1', 'e2']);
    fanOut.publish(['e3']);
    await fanOut.settled();

    // Events published together go out together; a later publish makes a pass of its own.
    expect(handed).toEqual(['a1:e1', 'a1:e2', 'a2:e1', 'a2:e2', 'b1:e1', 'b1:e2', 'a1:e3', 'a2:e3', 'b1:e3']);
  });

  it('gives events published during a pass to the channels it has not reached yet in that pass, and to the others after', async () => {
    const { handed, sink } = recorder();
    const fanOut = new FanOut<string>({ logger: recordingLogger().logger, channelsPerTurn: 1 });
    for (const name of ['a', 'b', 'c']) fanOut.add(sink(name));

    // The pass hands e1 to the first channel at once, then lets other work run: e2 arrives while b and c wait for e1.
    fanOut.publish(['e1']);
    fanOut.publish(['e2']);
    await fanOut.settled();

    expect(handed).toEqual(['a:e1', 'b:e1', 'b:e2', 'c:e1', 'c:e2', 'a:e2']);
  });

  it('hands a sink that joins the latest event at once and every later one, and nothing more to one that left', async () => {
    const { handed, sink } = recorder();
    const fanOut = new FanOut<string>({ logger: recordingLogger().logger, channelsPerTurn: 1 });
    const leaving = sink('leaving');
    fanOut.add(sink('staying'));
    fanOut.add(leaving);
    // The pass hands e1 to the first channel, then yields: the others join, leave and get events while it is under way.
    fanOut.publish(['e1']);
    fanOut.publish(['e2']);
    fanOut.add(sink('late'));
    expect(handed.at(-1), 'the latest event, handed as the sink joins').toBe('late:e2');
    expect(fanOut.delete(leaving)).toBe(true);
    fanOut.publish(['e3']);
    await fanOut.settled();

    const of = (name: string) => handed.filter((entry) => entry.startsWith(`${name}:`));
    expect([of('staying'), of('late'), of('leaving')]).toEqual([['staying:e1', 'staying:e2', 'staying:e3'], ['late:e2', 'late:e3'], []]);
    expect(fanOut.size).toBe(2);
  });

  it('hands over an event published in the very step after a run of passes found nothing more to do', async () => {
    const { handed, sink } = recorder();
    const fanOut = new FanOut<string>({ logger: recordingLogger().logger });
    fanOut.add(sink('a'));

    fanOut.publish(['e1']);
    queueMicrotask(() => fanOut.publish(['e2']));
    await Promise.resolve();
    await fanOut.settled();

    expect(handed).toEqual(['a:e1', 'a:e2']);
  });

  it('ends every sink only after it was handed everything published before the end', async () => {
    const { handed, sink } = recorder();
    const fanOut = new FanOut<string>({ logger: recordingLogger().logger, channelsPerTurn: 1 });
    fanOut.add(sink('a'));
    fanOut.add(sink('b'));
    fanOut.publish(['last']);

    fanOut.publish(['after']);
    await fanOut.end();

    expect(handed).toEqual(['a:last', 'b:last', 'b:after', 'a:after', 'a:end', 'b:end']);
    expect(fanOut.size).toBe(0);
  });

  it('ends the other sinks when one fails to end, and logs it', async () => {
    const { handed, sink } = recorder();
    const { logger, warnings } = recordingLogger();
    const fanOut = new FanOut<string>({ logger });
    fanOut.add({
      next: () => undefined,
      end: () => {
        throw new Error('socket broke');
      },
    });
    fanOut.add(sink('healthy'));

    await fanOut.end();

    expect(handed).toEqual(['healthy:end']);
    expect(warnings.map((warning) => warning.message)).toEqual(['a subscriber could not be ended']);
  });

  it('goes on to the other sinks when one fails to take an event, and logs it', async () => {
    const { handed, sink } = recorder();
    const { logger, warnings } = recordingLogger();
    const fanOut = new FanOut<string>({ logger });
    fanOut.add({
      next: () => {
        throw new Error('socket broke');
      },
      end: () => undefined,
    });
    fanOut.add(sink('healthy'));

    fanOut.publish(['e1']);
    await fanOut.settled();

    expect(handed).toEqual(['healthy:e1']);
    expect(warnings.map((warning) => warning.message)).toEqual(['a subscriber could not be handed an event']);
  });
});
