import { defineEntity, p, type EntityDictionary, type EntityManager } from '@mikro-orm/postgresql';
import type { Database } from '../storage/database.ts';
import type { DomainEvent, EventBus } from './event-bus.ts';
import type { Logger } from '../platform/logger.ts';
import { captureTraceContext, runInContext, type Context } from '../platform/telemetry.ts';
import { systemFork } from '../storage/tenant-scope.ts';

/**
 * The transactional outbox: an event is a row written in the same transaction as the state change it
 * reports, so a crash between the two loses neither. A relay publishes rows to the event bus and marks
 * them; a crash after publishing and before marking publishes an event twice, never zero times, which
 * is why consumers deduplicate by event id.
 */
export const OutboxEventSchema = defineEntity({
  name: 'OutboxEvent',
  tableName: 'outbox_events',
  properties: {
    position: p.bigint().primary().autoincrement(),
    eventId: p.uuid().unique(),
    type: p.string(),
    tenantId: p.string().nullable(),
    payload: p.json<Record<string, unknown>>(),
    occurredAt: p.datetime(),
    publishedAt: p.datetime().nullable().index(),
    attempts: p.integer().default(0),
  },
});

export class OutboxEvent extends OutboxEventSchema.class {}
OutboxEventSchema.setClass(OutboxEvent);

/** The migration statements that create the outbox table; a service includes them in its own migration. */
export const OUTBOX_TABLE_SQL = [
  `create table "outbox_events" ("position" bigserial primary key, "event_id" uuid not null, "type" varchar(255) not null, "tenant_id" varchar(255) null, "payload" jsonb not null, "occurred_at" timestamptz not null, "published_at" timestamptz null, "attempts" int not null default 0)`,
  `alter table "outbox_events" add constraint "outbox_events_event_id_unique" unique ("event_id")`,
  `create index "outbox_events_published_at_index" on "outbox_events" ("published_at")`,
];

/**
 * The trace context each event was recorded in, until the relay publishes it, so that its consumers continue the
 * request's trace. Kept by the process that recorded the event rather than in the table, which every service's
 * migrations would otherwise have to change: an event another instance relays, or one relayed after a restart,
 * starts a trace of its own. Bounded, since an event of a transaction rolled back is never published.
 */
const recordedTraceContexts = new Map<string, Context>();
const MAX_RECORDED_TRACE_CONTEXTS = 10_000;

function rememberTraceContext(eventId: string): void {
  const captured = captureTraceContext();
  if (!captured) return;
  if (recordedTraceContexts.size >= MAX_RECORDED_TRACE_CONTEXTS) {
    const oldest = recordedTraceContexts.keys().next().value;
    if (oldest !== undefined) recordedTraceContexts.delete(oldest);
  }
  recordedTraceContexts.set(eventId, captured);
}

/** Adds an event to the unit of work of `em`: it is committed by the same flush as the change it reports. */
export function recordEvent(
  em: EntityManager,
  event: { type: string; tenantId?: string; payload: Record<string, unknown> },
  now = new Date(),
): DomainEvent {
  const row = em.create(OutboxEvent, {
    eventId: crypto.randomUUID(),
    type: event.type,
    tenantId: event.tenantId ?? null,
    payload: event.payload,
    occurredAt: now,
    publishedAt: null,
    attempts: 0,
  });
  rememberTraceContext(row.eventId);
  return toDomainEvent(row);
}

/** The values of an outbox row, for code that writes its change and the row in one SQL statement of its own. */
export interface OutboxEventValues {
  eventId: string;
  type: string;
  tenantId: string | null;
  payload: Record<string, unknown>;
  occurredAt: Date;
}

/**
 * An event for the caller to insert into `outbox_events` itself, with the change it reports: what {@link recordEvent}
 * adds to a unit of work, for a write that bypasses the unit of work because its cost matters (a workflow step).
 */
export function newOutboxEvent(
  event: { type: string; tenantId?: string; payload: Record<string, unknown> },
  now = new Date(),
): OutboxEventValues {
  const values = {
    eventId: crypto.randomUUID(),
    type: event.type,
    tenantId: event.tenantId ?? null,
    payload: event.payload,
    occurredAt: now,
  };
  rememberTraceContext(values.eventId);
  return values;
}

function toDomainEvent(row: OutboxEvent): DomainEvent {
  return {
    id: row.eventId,
    type: row.type,
    occurredAt: row.occurredAt.toISOString(),
    ...(row.tenantId ? { tenantId: row.tenantId } : {}),
    payload: row.payload,
  };
}

export interface OutboxRelayOptions {
  /** How often pending events are looked for when nothing signalled new ones. @default 1000 */
  pollIntervalMs?: number;
  /** Events published per transaction. @default 100 */
  batchSize?: number;
  /**
   * Called for every event a pass relays, in order, as the pass hands it to the broker, e.g. to fan it out to live
   * subscribers, who need not wait for the broker's confirm. Once per event per relay: an event the broker did not
   * confirm is handed to it again by a later pass, not to this. So while the broker is out of reach, the first batch
   * of pending events goes out live at once and the events after it wait for the broker, as every event did before;
   * and each instance's relay calls this once for such an event (subscribers keep the newest revision). A relay that
   * dies before marking an event relays it again, and calls this again. A failure is logged and not retried: the
   * fan-out (see PubSub) tells the subscribers what they missed once it is back.
   */
  onRelayed?: (event: DomainEvent) => Promise<void> | void;
  /**
   * How soon a relay that found another instance's pass on the same outbox in progress tries again; the wait doubles
   * while it keeps being refused, up to `pollIntervalMs`. @default 25
   */
  turnRetryMs?: number;
}

/**
 * A pass's turn and its batch in one statement. The turn is taken by a relay's pass and held until its transaction
 * ends, or refused while another instance's pass holds it: one pass at a time per service's outbox. Trying rather than
 * waiting holds no connection meanwhile, and a long pass of another instance (a slow broker) is not mistaken for an
 * outage when a wait would reach `lock_timeout`. The turn is decided first (a materialised CTE that the batch reads),
 * and the batch, locked, is read only when it was granted: one row with `granted` false when refused, one whose event
 * columns are null when nothing is pending.
 */
const RELAY_TURN_AND_BATCH_SQL = `with "turn" as materialized (
    select pg_try_advisory_xact_lock(hashtextextended('outbox-relay:' || coalesce(current_schema(), ''), 0)) as "granted"
  )
  select "turn"."granted", "batch".* from "turn" left join lateral (
    select * from "outbox_events" where "turn"."granted" and "published_at" is null
    order by "position" asc limit ? for update skip locked
  ) "batch" on true`;

/** Logged (debug) when a relay finds another instance's pass in progress, once until it gets a turn again. */
export const TURN_REFUSED = "another instance's relay is publishing from this outbox; trying again shortly";

const REFUSED = Symbol('turn refused');

/**
 * Events fanned out that the broker has yet to confirm, as batches of the default size: a later pass hands the same
 * events to the broker again, and should not fan them out again. Beyond this many, the oldest are forgotten (another
 * instance's relay may have had them confirmed), and one still pending is fanned out again: at least once, as ever.
 */
const MAX_FANNED_OUT_UNCONFIRMED = 1000;

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private turnRetry: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** The wait before the next try after a refused turn; 0 while turns are granted. */
  private turnRetryDelay = 0;
  private stopped = false;
  private readonly fannedOutUnconfirmed = new Set<string>();
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly turnRetryMs: number;

  constructor(
    private readonly database: Database,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.batchSize = options.batchSize ?? 100;
    this.turnRetryMs = options.turnRetryMs ?? 25;
  }

  start(): void {
    this.timer = setInterval(() => this.notify(), this.pollIntervalMs);
    this.timer.unref();
    this.notify();
  }

  /** Publishes pending events soon; called after a flush that recorded some, so they need not wait for the poll. */
  notify(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drainUntilEmpty()
      .then((refused) => {
        if (refused) this.retryTurnLater();
        else this.turnRetryDelay = 0;
      })
      .catch((error: unknown) => this.logger.warn({ err: error }, 'outbox relay pass failed; retrying on the next poll'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.notify();
        }
      });
  }

  /** Passes until the outbox is empty; true when a pass found another instance's pass in progress. */
  private async drainUntilEmpty(): Promise<boolean> {
    for (;;) {
      const published = await this.pass();
      if (published === REFUSED) return true;
      // a full batch means more may be waiting
      if (published < this.batchSize || this.stopped) return false;
    }
  }

  private retryTurnLater(): void {
    if (this.turnRetryDelay === 0) this.logger.debug(TURN_REFUSED);
    this.turnRetryDelay = this.turnRetryDelay === 0 ? this.turnRetryMs : Math.min(this.turnRetryDelay * 2, this.pollIntervalMs);
    if (this.stopped || this.turnRetry) return;
    this.turnRetry = setTimeout(() => {
      this.turnRetry = undefined;
      this.notify();
    }, this.turnRetryDelay);
    this.turnRetry.unref();
  }

  /** One pass (see {@link pass}); it publishes nothing while another instance's pass holds the outbox's turn. */
  async drain(): Promise<number> {
    const published = await this.pass();
    return published === REFUSED ? 0 : published;
  }

  /**
   * One pass: takes the outbox's turn (or, while another instance's pass holds it, publishes nothing), locks up to a
   * batch of pending events, publishes them in order, fans out those not fanned out yet as it does, and marks those
   * the broker confirmed. Passes
   * take turns, rather than each skipping the rows another holds, because one aggregate's events must leave in the
   * order they were recorded: a pass that skipped ahead could publish a workflow step's completion before its start,
   * and subscribers, who keep the newest revision, would drop the late one. (On the
   * embedded database, whose one session runs one transaction at a time, the turn is always granted, and the
   * transaction alone serialises.) During a rolling deploy, instances still on code without turns do not take them.
   * The batch is published at once and its confirms awaited together (one round trip to the broker per batch, not
   * per event); what counts as confirmed is the run of events up to the first the broker did not confirm, so that the
   * marking never skips over an event. The events after that one are published again with it later: at least once, as
   * ever. The fan-out is started with the publishing, in the same order, rather than after the confirms: live
   * subscribers need not wait a broker round trip, nor for the broker's return when it is out of reach.
   */
  private async pass(): Promise<number | typeof REFUSED> {
    const em = systemFork(this.database);
    let refused = false;
    let confirmed = 0;
    let fanOutFailures = 0;
    await em.transactional(async (tx) => {
      const rows = await tx
        .getConnection()
        .execute<({ granted: boolean; position: string | null } & Record<string, unknown>)[]>(
          RELAY_TURN_AND_BATCH_SQL,
          [this.batchSize],
          'all',
          tx.getTransactionContext(),
        );
      if (!rows[0]?.granted) {
        refused = true;
        return;
      }
      const pending = rows
        .filter((row) => row.position !== null)
        .map(({ granted: _granted, ...row }) => tx.map(OutboxEvent, row as EntityDictionary<OutboxEvent>));
      const events = pending.map((row) => {
        row.attempts += 1;
        return toDomainEvent(row);
      });
      // Started in order, each before the next: a fan-out writes its messages when called, so they leave in order.
      const fanningOut = events.map((event) => (this.fannedOutUnconfirmed.has(event.id) ? Promise.resolve(undefined) : this.fanOut(event)));
      const publishing = events.map((event) => runInContext(recordedTraceContexts.get(event.id), () => this.bus.publish(event)));
      const outcomes = await Promise.allSettled(publishing);
      const failed = outcomes.findIndex((outcome) => outcome.status === 'rejected');
      confirmed = failed === -1 ? events.length : failed;
      if (failed !== -1) {
        const reason: unknown = (outcomes[failed] as PromiseRejectedResult).reason;
        this.logger.warn({ err: reason, eventId: events[failed]!.id, type: events[failed]!.type }, 'could not publish an outbox event');
      }
      const published = events.slice(0, confirmed);
      const fannedOut = await Promise.all(fanningOut);
      fanOutFailures = fannedOut.filter((accepted) => accepted === false).length;
      this.rememberFannedOut(events, fannedOut, confirmed);
      const publishedAt = new Date();
      for (const [index, event] of published.entries()) {
        recordedTraceContexts.delete(event.id);
        pending[index]!.publishedAt = publishedAt;
      }
    });
    if (refused) return REFUSED;
    if (fanOutFailures > 0) {
      this.logger.warn({ events: fanOutFailures }, 'live fan-out failed; subscribers are told what they missed once it is back');
    }
    return confirmed;
  }

  /** Keeps the events fanned out that the broker did not confirm, and forgets those it did. */
  private rememberFannedOut(events: DomainEvent[], fannedOut: (boolean | undefined)[], confirmed: number): void {
    for (const [index, event] of events.entries()) {
      if (index < confirmed) this.fannedOutUnconfirmed.delete(event.id);
      // Whether or not its fan-out succeeded: a failed one is not tried again, out of order, by a later pass.
      else if (fannedOut[index] !== undefined) this.fannedOutUnconfirmed.add(event.id);
    }
    for (const oldest of this.fannedOutUnconfirmed) {
      if (this.fannedOutUnconfirmed.size <= MAX_FANNED_OUT_UNCONFIRMED) break;
      this.fannedOutUnconfirmed.delete(oldest);
    }
  }

  /** Returns whether the fan-out accepted the event; one event's failure stops neither the others nor the broker's. */
  private async fanOut(event: DomainEvent): Promise<boolean> {
    if (!this.options.onRelayed) return true;
    try {
      await this.options.onRelayed(event);
      return true;
    } catch (error) {
      this.logger.debug({ err: error, eventId: event.id, type: event.type }, 'live fan-out of an event failed');
      return false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.turnRetry);
    await this.running;
  }
}
