import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from '@nexusflow/kit/core';

/** Where a subscription's events go: called in order, synchronously, with each event of its group. */
export interface FanOutSink<Event> {
  next(event: Event): void;
  /** The group is over (its upstream ended, or it is no longer valid on a new supergraph); nothing follows. */
  end(): void;
  /**
   * What the sink writes to (its connection), when several sinks share one: a fan-out hands events to the sinks of one
   * channel one after another, so that a writer can send them together and be done with that channel.
   */
  readonly channel?: object;
}

export interface FanOutOptions {
  logger: Logger;
  /**
   * Channels handed their events in one turn of the event loop before the fan-out lets other work run.
   * @default 512
   */
  channelsPerTurn?: number;
}

/** A sink, and how many of the group's events it has been handed. */
interface Receiver<Event> {
  sink: FanOutSink<Event>;
  handed: number;
}

/**
 * Hands a group's events to its sinks, channel by channel, in order, each event once to each sink. A fan-out to tens
 * of thousands of sinks is done a few hundred channels per turn of the event loop, so that it does not hold the gateway
 * up (HTTP requests, other groups' events) for the whole of it. Events that arrive while a fan-out is under way join it:
 * the channels not reached yet get them in the same pass (one write per channel for several events), the others in the
 * pass that follows. A sink that joins gets the latest event at once, then every later one.
 */
export class FanOut<Event> {
  private readonly byChannel = new Map<object, Set<Receiver<Event>>>();
  private readonly receivers = new Map<FanOutSink<Event>, Receiver<Event>>();
  /** Events not yet handed to every sink; `backlog[0]` is event number `backlogStart`. */
  private backlog: Event[] = [];
  private backlogStart = 0;
  /** Events published so far. */
  private published = 0;
  private passes: Promise<void> | undefined;
  private readonly channelsPerTurn: number;
  /** Handed to sinks that join later: events carry the whole state, so the latest is enough to catch up. */
  latest: Event | undefined;

  constructor(private readonly options: FanOutOptions) {
    this.channelsPerTurn = options.channelsPerTurn ?? 512;
  }

  get size(): number {
    return this.receivers.size;
  }

  /** Adds a sink, handing it the latest event at once if there is one. */
  add(sink: FanOutSink<Event>): void {
    if (this.receivers.has(sink)) return;
    const receiver: Receiver<Event> = { sink, handed: this.published };
    this.receivers.set(sink, receiver);
    const channel = sink.channel ?? sink;
    let receivers = this.byChannel.get(channel);
    if (!receivers) this.byChannel.set(channel, (receivers = new Set()));
    receivers.add(receiver);
    if (this.latest !== undefined) this.hand(receiver, this.latest);
  }

  /** Removes a sink; returns whether it was there. */
  delete(sink: FanOutSink<Event>): boolean {
    const receiver = this.receivers.get(sink);
    if (!receiver) return false;
    this.receivers.delete(sink);
    const channel = sink.channel ?? sink;
    const receivers = this.byChannel.get(channel);
    receivers?.delete(receiver);
    if (receivers?.size === 0) this.byChannel.delete(channel);
    return true;
  }

  /** Queues events, in order, for every sink there is now. */
  publish(events: readonly Event[]): void {
    if (events.length === 0) return;
    this.backlog.push(...events);
    this.published += events.length;
    this.latest = events.at(-1);
    this.passes ??= this.runPasses();
  }

  /** Events published and not yet handed to every sink. */
  get backlogLength(): number {
    return this.backlog.length;
  }

  /** Resolves once every event published so far has been handed to every sink. */
  async settled(): Promise<void> {
    while (this.passes) await this.passes;
  }

  /** Ends every sink once what was published has been handed to it, and forgets them. */
  async end(): Promise<void> {
    await this.settled();
    const sinks = [...this.receivers.keys()];
    this.receivers.clear();
    this.byChannel.clear();
    for (const sink of sinks) {
      try {
        sink.end();
      } catch (error) {
        this.options.logger.warn({ err: error }, 'a subscriber could not be ended');
      }
    }
  }

  /**
   * Passes over the channels until one finds every sink up to date. After each pass every sink has every event that
   * was published when it began (a sink that joined since started later still), so those leave the backlog.
   */
  private async runPasses(): Promise<void> {
    try {
      for (;;) {
        const target = this.published;
        await this.pass();
        this.backlog = this.backlog.slice(target - this.backlogStart);
        this.backlogStart = target;
        if (this.published === target) return;
      }
    } finally {
      // Cleared in the same step as the check above: a publish in any later step starts a run of its own.
      this.passes = undefined;
    }
  }

  /** Hands every sink the events it lacks, channel by channel, yielding to other work between batches of channels. */
  private async pass(): Promise<void> {
    let channels = 0;
    // Map and Set iterators are live: a channel that joins during the pass is visited, one that leaves is not. A sink that
    // joins a channel already visited is not, and needs not be: it joined with every event published so far handed.
    for (const receivers of this.byChannel.values()) {
      for (const receiver of receivers) {
        while (receiver.handed < this.published) this.hand(receiver, this.backlog[receiver.handed++ - this.backlogStart]!);
      }
      if (++channels % this.channelsPerTurn === 0) await nextTurn();
    }
  }

  private hand(receiver: Receiver<Event>, event: Event): void {
    try {
      receiver.sink.next(event);
    } catch (error) {
      // One subscriber's failure (a socket that broke while written to) is its own; the others still get the event.
      this.options.logger.warn({ err: error }, 'a subscriber could not be handed an event');
    }
  }
}
