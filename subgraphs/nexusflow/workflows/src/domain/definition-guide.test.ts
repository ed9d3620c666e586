import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS, Role, type Identity } from '@nexusflow/kit';
import { defaultStepRegistry } from '../steps/index.ts';
import { definitionGuide, validateDefinition } from './definition-guide.ts';

const SECRET = 'a secret long enough to sign identities with';
const steps = defaultStepRegistry({
  allowPrivateNetworks: false,
  notify: { notificationsUrl: 'http://127.0.0.1:3005/graphql', internalSecret: SECRET },
  ai: { aiUrl: 'http://127.0.0.1:3003/graphql', internalSecret: SECRET },
  integration: { integrationsUrl: 'http://127.0.0.1:3004/graphql', internalSecret: SECRET },
});
const viewer: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Viewer] };

describe('checking a workflow definition for another service', () => {
  it('accepts what createWorkflow accepts, as a WorkflowInput without the fields WorkflowInput does not have', () => {
    const definition = {
      name: 'Triage',
      id: 'not a WorkflowInput field',
      steps: [{ key: 'triage', type: 'ai', config: { operation: 'summarize', text: '{{input.text}}' }, note: 'neither is this' }],
    };
    expect(validateDefinition(viewer, definition, steps)).toEqual({
      valid: true,
      problems: [],
      definition: { name: 'Triage', steps: [{ key: 'triage', type: 'ai', config: { operation: 'summarize', text: '{{input.text}}' } }] },
    });
  });

  it('reports what createWorkflow would refuse, and gives no definition', () => {
    const verdict = validateDefinition(viewer, { name: 'Mail', steps: [{ key: 'mail', type: 'email', config: {} }] }, steps);
    expect(verdict).toEqual({
      valid: false,
      problems: [{ field: 'steps.0.config', problem: expect.stringContaining('unknown step type "email"') }],
      definition: null,
    });
  });

  it('answers only a signed-in user', () => {
    expect(() => validateDefinition(ANONYMOUS, { name: 'x', steps: [] }, steps)).toThrow('Authentication required');
    expect(() => definitionGuide(ANONYMOUS, steps)).toThrow('Authentication required');
  });
});

describe('the guide to writing a workflow definition', () => {
  const guide = definitionGuide(viewer, steps);

  it('describes every step type, in the registry’s order, with a JSON Schema of its config', () => {
    expect(guide.stepTypes.map((stepType) => stepType.type)).toEqual(steps.types());
    for (const stepType of guide.stepTypes) {
      expect(stepType.description).not.toBe('');
      expect(stepType.configSchema).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema' });
    }
  });

  it('describes configs as their authors write them, defaults left out', () => {
    const http = guide.stepTypes.find((stepType) => stepType.type === 'http')!.configSchema;
    expect(http).toMatchObject({ type: 'object', required: ['url'], properties: { method: { default: 'GET' } } });
  });

  it('describes a definition as createWorkflow takes it', () => {
    expect(guide.definitionSchema).toMatchObject({ type: 'object', required: ['name', 'steps'] });
  });
});
