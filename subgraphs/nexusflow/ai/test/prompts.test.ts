import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Role, signIdentity, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, testEnvironment } from '@nexusflow/kit/testing';
import type { AiServices } from '../src/context.ts';
import { DEFAULT_PROMPTS } from '../src/domain/default-prompts.ts';
import { subgraph } from '../src/subgraph.ts';
import { answerWords, FakeLlmProviders } from './support/fake-llm-providers.ts';

const TEMPLATE = 'name version task system user variables builtIn createdBy createdAt';
const SAVE = `mutation ($input: SavePromptTemplateInput!) { savePromptTemplate(input: $input) { ${TEMPLATE} } }`;
const TEMPLATES = `{ promptTemplates { ${TEMPLATE} versions { version builtIn user } } }`;
const COMPLETION = 'text model promptName promptVersion';
const SUMMARIZE = `mutation ($text: String!, $prompt: PromptReferenceInput) {
  summarize(text: $text, maxWords: 50, prompt: $prompt) { text completion { ${COMPLETION} } }
}`;
const COMPLETE = `mutation ($input: CompletionInput!) { complete(input: $input) { ${COMPLETION} } }`;
const STREAM = `subscription ($input: CompletionInput!) { completionStream(input: $input) { delta completion { ${COMPLETION} } } }`;
const USAGE = '{ aiUsage(first: 100) { model succeeded promptName promptVersion } }';

const user = (tenantId: string, roles = [Role.Member]): Extract<Identity, { kind: 'user' }> => ({
  kind: 'user',
  userId: randomUUID(),
  tenantId,
  roles,
});

type Template = {
  name: string;
  version: number;
  task: string;
  system: string;
  user: string;
  variables: string[];
  builtIn: boolean;
  createdBy: string | null;
  createdAt: string | null;
  versions: { version: number; builtIn: boolean; user: string }[];
};

const terseSummary = (version: number) => ({
  name: 'summarize',
  system: `Summarise tersely (house style ${version}).`,
  user: 'At most {{maxWords}} words:\n{{text}}',
  variables: ['maxWords', 'text'],
});

describe('prompt templates', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let fake: FakeLlmProviders;
    let ai: RunningSubgraph<AiServices>;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      fake = await FakeLlmProviders.start();
      cleanups.push(() => fake.close());
      const dataDir = await createTempDirectory(`ai-prompts-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', ...fake.environment };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'ai_prompts');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      ai = await subgraph.start(env);
      cleanups.push(() => ai.close());
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}) =>
      postGraphQL<T>(ai.graphqlUrl, query, { variables, headers: signIdentity(identity, ai.config.internalSecret) });
    const save = async (identity: Identity, input: Record<string, unknown>) => {
      const saved = await ask<{ savePromptTemplate: Template }>(identity, SAVE, { input });
      expect(saved.errors).toBeUndefined();
      return saved.data!.savePromptTemplate;
    };
    const templatesOf = async (identity: Identity) =>
      (await ask<{ promptTemplates: Template[] }>(identity, TEMPLATES)).data!.promptTemplates;
    const summarize = (identity: Identity, text: string, prompt?: { name: string; version?: number }) =>
      ask<{ summarize: { text: string; completion: Record<string, unknown> } }>(identity, SUMMARIZE, { text, prompt });
    const lastMessagesSent = () => fake.requestsTo('openai').at(-1)!.body.messages as { role: string; content: string }[];
    const codesOf = (response: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
      response.errors?.map((error) => error.extensions?.code);

    it('offers each feature its built-in prompt, version 0, to anyone of a tenant that saved none', async () => {
      const templates = await templatesOf(user(randomUUID(), [Role.Viewer]));
      for (const definition of DEFAULT_PROMPTS)
        expect(templates).toContainEqual(
          expect.objectContaining({
            name: definition.name,
            version: 0,
            builtIn: true,
            task: definition.task,
            variables: [...definition.variables],
            createdBy: null,
            versions: [{ version: 0, builtIn: true, user: definition.user }],
          }),
        );
    });

    it('summarises with the built-in prompt when the tenant has none, and records it on the completion and the usage', async () => {
      const member = user(randomUUID());
      const summarized = await summarize(member, 'The meeting moved to Thursday at ten.');
      expect(summarized.errors).toBeUndefined();
      expect(summarized.data!.summarize).toEqual({
        text: answerWords('openai').join(''),
        completion: { text: answerWords('openai').join(''), model: 'gpt-4o-mini', promptName: 'summarize', promptVersion: 0 },
      });
      const builtIn = DEFAULT_PROMPTS.find((definition) => definition.name === 'summarize')!;
      expect(lastMessagesSent()).toEqual([
        { role: 'system', content: builtIn.system },
        {
          role: 'user',
          content: 'Summarise the following text in at most 50 words.\n\nText:\n"""\nThe meeting moved to Thursday at ten.\n"""',
        },
      ]);
      const usage = (await ask(user(member.tenantId, [Role.Owner]), USAGE)).data!.aiUsage;
      expect(usage).toEqual([{ model: 'gpt-4o-mini', succeeded: true, promptName: 'summarize', promptVersion: 0 }]);
    });

    it("uses the tenant's latest saved version, records it, and keeps older versions and the built-in one addressable", async () => {
      const admin = user(randomUUID(), [Role.Admin]);
      const first = await save(admin, terseSummary(1));
      expect(first).toMatchObject({ name: 'summarize', version: 1, task: 'SUMMARIZE', builtIn: false, createdBy: admin.userId });
      expect((await save(admin, terseSummary(2))).version).toBe(2);

      const member = user(admin.tenantId);
      const latest = await summarize(member, 'Budget approved.');
      expect(latest.data!.summarize.completion).toMatchObject({ promptName: 'summarize', promptVersion: 2 });
      expect(lastMessagesSent()).toEqual([
        { role: 'system', content: 'Summarise tersely (house style 2).' },
        { role: 'user', content: 'At most 50 words:\nBudget approved.' },
      ]);
      const older = await summarize(member, 'Budget approved again.', { name: 'summarize', version: 1 });
      expect(older.data!.summarize.completion).toMatchObject({ promptVersion: 1 });
      expect(lastMessagesSent()[0]).toEqual({ role: 'system', content: 'Summarise tersely (house style 1).' });
      const builtIn = await summarize(member, 'Budget approved once more.', { name: 'summarize', version: 0 });
      expect(builtIn.data!.summarize.completion).toMatchObject({ promptVersion: 0 });

      const usage = (await ask(user(admin.tenantId, [Role.Owner]), USAGE)).data!.aiUsage as Record<string, unknown>[];
      expect(usage.map((row) => row.promptVersion).sort()).toEqual([0, 1, 2]);

      const listed = (await templatesOf(member)).find((template) => template.name === 'summarize')!;
      expect(listed).toMatchObject({ version: 2, builtIn: false, system: 'Summarise tersely (house style 2).' });
      expect(listed.versions.map((version) => [version.version, version.builtIn])).toEqual([
        [2, false],
        [1, false],
        [0, true],
      ]);
    });

    it('completes from a named prompt, inserting each value as text even when it looks like a placeholder', async () => {
      const owner = user(randomUUID(), [Role.Owner]);
      await save(owner, {
        name: 'triage-note',
        system: 'You write triage notes for {{team}}.',
        user: 'Ticket: {{ticket}}',
        variables: ['team', 'ticket'],
      });
      const completed = await ask(user(owner.tenantId), COMPLETE, {
        input: { prompt: { name: 'triage-note' }, variables: { team: 'support', ticket: 'Printer says {{team}} and {{ secret }}' } },
      });
      expect(completed.errors).toBeUndefined();
      expect(completed.data!.complete).toMatchObject({ promptName: 'triage-note', promptVersion: 1, model: 'gpt-4o' });
      expect(lastMessagesSent()).toEqual([
        { role: 'system', content: 'You write triage notes for support.' },
        { role: 'user', content: 'Ticket: Printer says {{team}} and {{ secret }}' },
      ]);
    });

    it('refuses a prompt whose variables are missing, naming them, before anything is sent', async () => {
      const owner = user(randomUUID(), [Role.Owner]);
      await save(owner, { name: 'greeting', system: '', user: 'Greet {{person}} from {{city}}.', variables: ['person', 'city'] });
      const before = fake.received.length;
      const refused = await ask(user(owner.tenantId), COMPLETE, { input: { prompt: { name: 'greeting' }, variables: { person: 'Ada' } } });
      expect(codesOf(refused)).toEqual(['BAD_USER_INPUT']);
      expect(refused.errors![0]!.message).toBe('The prompt greeting (version 1) needs the variable city');
      expect(refused.errors![0]!.extensions?.field).toBe('input.variables');
      const none = await ask(user(owner.tenantId), COMPLETE, { input: { prompt: { name: 'greeting' } } });
      expect(none.errors![0]!.message).toBe('The prompt greeting (version 1) needs the variables person, city');
      expect(fake.received).toHaveLength(before);
    });

    it('refuses prompts and versions that do not exist, and messages given with a prompt', async () => {
      const member = user(randomUUID());
      const unknownName = await ask(member, COMPLETE, { input: { prompt: { name: 'no-such-prompt' } } });
      expect(unknownName.errors?.[0]).toMatchObject({
        message: 'There is no prompt template named no-such-prompt',
        extensions: { code: 'BAD_USER_INPUT', field: 'input.prompt.name' },
      });
      const unknownVersion = await summarize(member, 'Text', { name: 'summarize', version: 3 });
      expect(unknownVersion.errors?.[0]).toMatchObject({
        message: 'The prompt template summarize has no version 3',
        extensions: { code: 'BAD_USER_INPUT', field: 'prompt.version' },
      });
      const both = await ask(member, COMPLETE, {
        input: { prompt: { name: 'summarize' }, messages: [{ role: 'USER', content: 'Hi' }], variables: { text: 'a', maxWords: 3 } },
      });
      expect(codesOf(both)).toEqual(['BAD_USER_INPUT']);
      const neither = await ask(member, COMPLETE, { input: {} });
      expect(neither.errors?.[0]).toMatchObject({
        message: '"input.messages" is required unless "input.prompt" names a prompt template',
        extensions: { code: 'BAD_USER_INPUT', field: 'input.messages' },
      });
    });

    it('streams a completion from a named prompt, its last event recording the prompt', async () => {
      const caller = user(randomUUID());
      const client = createClient({
        url: ai.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: signIdentity(caller, ai.config.internalSecret),
        retryAttempts: 0,
      });
      cleanups.push(async () => {
        await client.dispose();
      });
      const events: { delta: string; completion: Record<string, unknown> | null }[] = [];
      for await (const result of client.iterate<{ completionStream: (typeof events)[number] }>({
        query: STREAM,
        variables: { input: { prompt: { name: 'analyze-sentiment' }, variables: { text: 'Lovely weather.' } } },
      })) {
        expect(result.errors).toBeUndefined();
        events.push(result.data!.completionStream);
      }
      expect(events.map((event) => event.delta).join('')).toBe(answerWords('openai').join(''));
      expect(events.at(-1)!.completion).toEqual({
        text: answerWords('openai').join(''),
        model: 'gpt-4o-mini',
        promptName: 'analyze-sentiment',
        promptVersion: 0,
      });
      expect(lastMessagesSent()[1]).toEqual({ role: 'user', content: 'Text:\n"""\nLovely weather.\n"""' });
    });

    it('refuses templates whose placeholders and declared variables disagree, or that a feature could not fill', async () => {
      const admin = user(randomUUID(), [Role.Admin]);
      const refusal = async (input: Record<string, unknown>) => (await ask(admin, SAVE, { input })).errors?.[0];
      expect(await refusal({ name: 'notes', system: '', user: 'About {{topic}}', variables: [] })).toMatchObject({
        message: '"input.variables" must declare topic, named by placeholders',
        extensions: { code: 'BAD_USER_INPUT' },
      });
      expect(await refusal({ name: 'notes', system: '', user: 'About it', variables: ['topic'] })).toMatchObject({
        message: '"input.variables" declares topic, which no placeholder uses',
      });
      expect(
        await refusal({ name: 'summarize', system: '', user: '{{text}} for {{audience}}', variables: ['text', 'audience'] }),
      ).toMatchObject({ message: '"input.variables" audience: the summarize feature supplies only maxWords, text' });
      expect(await refusal({ name: 'Bad Name', system: '', user: 'x', variables: [] })).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.name' },
      });
      expect(await templatesOf(admin)).not.toContainEqual(expect.objectContaining({ name: 'notes' }));
    });

    it('lets only the OWNER and ADMINs save, and never shows a tenant the templates of another', async () => {
      const tenantA = randomUUID();
      for (const role of [Role.Viewer, Role.Member])
        expect(codesOf(await ask(user(tenantA, [role]), SAVE, { input: terseSummary(1) }))).toEqual(['FORBIDDEN']);
      expect((await templatesOf(user(tenantA))).find((template) => template.name === 'summarize')).toMatchObject({ version: 0 });

      await save(user(tenantA, [Role.Owner]), terseSummary(1));
      await save(user(tenantA, [Role.Owner]), { name: 'a-only', system: '', user: 'Secret of A', variables: [] });
      const strangerB = user(randomUUID(), [Role.Owner]);
      const seenByB = await templatesOf(strangerB);
      expect(seenByB.map((template) => template.name)).not.toContain('a-only');
      expect(seenByB.find((template) => template.name === 'summarize')).toMatchObject({
        version: 0,
        builtIn: true,
        versions: [expect.objectContaining({ version: 0 })],
      });
      const refused = await ask(strangerB, COMPLETE, { input: { prompt: { name: 'a-only' } } });
      expect(refused.errors?.[0]?.message).toBe('There is no prompt template named a-only');
      expect((await summarize(strangerB, 'Text of B')).data!.summarize.completion).toMatchObject({ promptVersion: 0 });
      expect((await save(strangerB, terseSummary(1))).version).toBe(1);
    });

    it('numbers versions saved at the same time one after another, none lost', async () => {
      const admin = user(randomUUID(), [Role.Admin]);
      const saved = await Promise.all(Array.from({ length: 5 }, (_unused, index) => save(admin, terseSummary(index))));
      expect(saved.map((template) => template.version).sort()).toEqual([1, 2, 3, 4, 5]);
    });
  });
});
