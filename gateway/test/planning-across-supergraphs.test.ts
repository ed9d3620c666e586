import { parse } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { FastGateway } from '../src/execution/gateway.ts';

const NOW = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query { now: String }`;
const OTHER = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query { other: String }`;

/** `now` served by `owner`, the other subgraph serving another field: one supergraph per place `now` can be. */
const supergraphWithNowOn = (owner: 'one' | 'two') =>
  composeSupergraph([
    { name: 'one', url: 'http://127.0.0.1:1/graphql', sdl: owner === 'one' ? NOW : OTHER },
    { name: 'two', url: 'http://127.0.0.1:2/graphql', sdl: owner === 'two' ? NOW : OTHER },
  ]);

describe('planning while supergraphs change', () => {
  let gateway: FastGateway | undefined;
  afterEach(async () => gateway?.stop());

  /** A gateway serving `now` from subgraph `one`, and what gives it a new supergraph. */
  async function startGateway() {
    let update: ((supergraphSdl: string) => void) | undefined;
    const started = new FastGateway({
      supergraphSdl: ({ update: onUpdate }) => {
        update = onUpdate;
        return Promise.resolve({ supergraphSdl: supergraphWithNowOn('one') });
      },
    });
    gateway = started;
    await started.load();
    return { served: started, update: (supergraphSdl: string) => update!(supergraphSdl) };
  }

  it('plans on the supergraph served when asked, not on the one a planning still in flight started on', async () => {
    const { served, update } = await startGateway();
    const source = '{ now }';
    const document = parse(source);

    // Asked on the first supergraph, then again once a newer one came while the first planning was still running.
    const first = served.prepare(document, source, undefined);
    update(supergraphWithNowOn('two'));
    const latest = served.prepare(document, source, undefined);

    const node = (await latest).queryPlan.node;
    expect(node?.kind === 'Fetch' && node.serviceName).toBe('two');
    // The first planning belongs to a supergraph no longer served: what it gives is not what is asked now.
    await first.catch(() => undefined);
  });

  it('answers an operation asked before two reloads in quick succession with the plan of the supergraph it was asked on', async () => {
    const { served, update } = await startGateway();
    const source = '{ now }';
    const document = parse(source);

    // Each supergraph reaches the planner when the first operation after it is asked, all before any is planned.
    const asked = served.prepare(document, source, undefined);
    update(supergraphWithNowOn('two'));
    const onTheSecond = served.prepare(parse('{ other }'), '{ other }', undefined);
    update(supergraphWithNowOn('one'));
    const onTheThird = served.prepare(parse('{ other }'), '{ other }', undefined);

    const servedBy = async (prepared: ReturnType<FastGateway['prepare']>) => {
      const node = (await prepared).queryPlan.node;
      return node?.kind === 'Fetch' && node.serviceName;
    };
    expect(await Promise.all([asked, onTheSecond, onTheThird].map(servedBy))).toEqual(['one', 'one', 'two']);
  });
});
