import { parse } from 'graphql';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { recordingLogger } from '@nexusflow/kit/testing';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { DemandControlMode } from '../config.ts';
import { DemandControl } from './demand-control.ts';

const supergraphWith = (weight: number) =>
  composeSupergraph([
    {
      name: 'catalog',
      url: 'http://127.0.0.1:1/graphql',
      sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@cost"])
        type Query { book: Book }
        type Book { title: String @cost(weight: ${weight}) }`,
    },
  ]);

describe('demand control across supergraphs', () => {
  it('estimates a document seen before with the costs of the supergraph served now', () => {
    const control = new DemandControl({
      mode: DemandControlMode.Enforce,
      maxCost: 100,
      defaultListSize: 10,
      inResponse: true,
      registry: new Registry(),
      logger: recordingLogger().logger,
    });
    // One document object, as Apollo Server's document cache hands the same text out again.
    const document = parse('{ book { title } }');

    control.update(supergraphWith(5));
    expect(control.check(document, undefined, {}).refusal).toBeUndefined();

    control.update(supergraphWith(500));
    expect(control.check(document, undefined, {}).refusal?.extensions.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
  });
});
