/**
 * Audit append throughput: entries a second the audit subgraph appends to its hash chains, each in a transaction of
 * its own under its tenant's chain head lock (FOR UPDATE). Three ways: one tenant appending one entry at a time (the
 * chain's serial floor), eight tenants appending at once (chains in parallel), and end to end from the event bus
 * (publish, the durable queue, the consumer's deduplication and append). Against the embedded storage mode, the real
 * PostgreSQL with RabbitMQ, or both; stops by itself.
 *
 *   npm run bench:audit -- [--mode embedded|postgres|both] [--entries 2000] [--json out.json]
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { systemFork, type RunningSubgraph } from '@nexusflow/kit';
import { testEnvironment, type StorageMode } from '@nexusflow/kit/testing';
import type { AuditServices } from '../subgraphs/nexusflow/audit/src/context.ts';
import type { NewAuditEntry } from '../subgraphs/nexusflow/audit/src/domain/trail.ts';
import { AuditEntry } from '../subgraphs/nexusflow/audit/src/entities/audit-entry.entity.ts';
import { startServices, TestServices } from '../test/support/services.ts';
import { formatTable, machineFacts, positiveInteger, progress, startWatchdog, within } from './support.ts';

const BUDGET_MS = 600_000;
const PARALLEL_TENANTS = 8;

interface Figure {
  mode: StorageMode;
  way: string;
  entries: number;
  seconds: number;
  entriesPerSecond: number;
}

function parseOptions() {
  const { values } = parseArgs({
    options: { mode: { type: 'string', default: 'both' }, entries: { type: 'string', default: '2000' }, json: { type: 'string' } },
  });
  const modes: StorageMode[] = values.mode === 'both' ? ['embedded', 'postgres'] : [values.mode as StorageMode];
  if (modes.some((mode) => mode !== 'embedded' && mode !== 'postgres')) throw new Error('--mode is embedded, postgres or both');
  if (modes.includes('postgres') && (!testEnvironment.postgresUrl || !testEnvironment.amqpUrl))
    throw new Error('postgres mode needs TEST_POSTGRES_URL, TEST_REDIS_URL and TEST_AMQP_URL');
  return { modes, entries: positiveInteger('entries', values.entries), json: values.json };
}

const entryOf = (tenantId: string, index: number): NewAuditEntry => ({
  tenantId,
  eventId: randomUUID(),
  occurredAt: new Date(),
  source: 'MUTATION',
  actorKind: 'USER',
  actorId: randomUUID(),
  action: 'mutation.updateWorkflow',
  resourceType: 'workflow',
  resourceId: randomUUID(),
  outcome: 'SUCCESS',
  details: { operationName: 'SaveWorkflow', variables: { id: index, input: { name: `Workflow ${index}`, token: '[REDACTED]' } } },
  ipAddress: '203.0.113.7',
  userAgent: 'bench/1.0',
});

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

async function benchMode(mode: StorageMode, entries: number): Promise<Figure[]> {
  const services = await TestServices.create(mode, `bench_audit_${mode}`);
  try {
    const running: Record<string, RunningSubgraph<unknown>> = {};
    await startServices(services, 'nexusflow', ['audit'], running, { audit: { AUDIT_PRUNE_INTERVAL_MS: '0' } });
    const audit = running.audit as RunningSubgraph<AuditServices>;
    const { trail } = audit.services;
    const figure = (way: string, seconds: number): Figure => ({
      mode,
      way,
      entries,
      seconds: Number(seconds.toFixed(2)),
      entriesPerSecond: Math.round(entries / seconds),
    });

    progress(`${mode}: ${entries} appends, one tenant, one at a time`);
    const serialTenant = randomUUID();
    const serial = await timed(async () => {
      for (let index = 0; index < entries; index += 1) await trail.append(systemFork(audit.database), entryOf(serialTenant, index));
    });

    progress(`${mode}: ${entries} appends, ${PARALLEL_TENANTS} tenants at once`);
    const tenants = Array.from({ length: PARALLEL_TENANTS }, () => randomUUID());
    const parallel = await timed(async () => {
      await Promise.all(
        tenants.map(async (tenantId, lane) => {
          for (let index = lane; index < entries; index += PARALLEL_TENANTS)
            await trail.append(systemFork(audit.database), entryOf(tenantId, index));
        }),
      );
    });

    progress(`${mode}: ${entries} events through the bus`);
    const busTenant = randomUUID();
    const count = () => systemFork(audit.database).count(AuditEntry, { tenantId: busTenant });
    const bus = await timed(async () => {
      for (let index = 0; index < entries; index += 1) {
        await audit.eventBus.publish({
          id: randomUUID(),
          type: 'workflow.updated',
          occurredAt: new Date().toISOString(),
          tenantId: busTenant,
          payload: { workflowId: randomUUID(), updatedBy: randomUUID(), index },
        });
      }
      await within(
        (async () => {
          while ((await count()) < entries) await new Promise((resolve) => setTimeout(resolve, 20));
        })(),
        BUDGET_MS,
        'the bus consumer',
      );
    });
    const verified = await trail.verify(systemFork(audit.database), serialTenant, null, null);
    if (!verified.intact || verified.checkedEntries !== entries)
      throw new Error(`the serial chain does not verify: ${JSON.stringify(verified)}`);
    return [
      figure('one tenant, serial', serial),
      figure(`${PARALLEL_TENANTS} tenants, parallel`, parallel),
      figure('event bus, end to end', bus),
    ];
  } finally {
    await services.close();
  }
}

const options = parseOptions();
startWatchdog(BUDGET_MS * options.modes.length);
const results: Figure[] = [];
for (const mode of options.modes) results.push(...(await benchMode(mode, options.entries)));
console.log(
  formatTable(
    ['mode', 'way', 'entries', 'seconds', 'entries/s'],
    results.map((result) => [result.mode, result.way, String(result.entries), result.seconds.toFixed(2), String(result.entriesPerSecond)]),
  ),
);
if (options.json) await writeFile(options.json, JSON.stringify({ machine: machineFacts(), results }, null, 2));
process.exit(0);
