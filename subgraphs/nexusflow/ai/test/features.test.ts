import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, postGraphQL } from '@nexusflow/kit/testing';
import type { AiServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';
import { answerWith, FakeLlmProviders, serverError } from './support/fake-llm-providers.ts';

const COMPLETION = 'completion { model provider promptName promptVersion }';
const SUMMARIZE = `mutation ($text: String!, $maxWords: Int) { summarize(text: $text, maxWords: $maxWords) { text ${COMPLETION} } }`;
const CLASSIFY = `mutation ($text: String!, $labels: [String!]!) { classify(text: $text, labels: $labels) { label confidence ${COMPLETION} } }`;
const EXTRACT = `mutation ($text: String!, $schema: JSON!) { extract(text: $text, schema: $schema) { data ${COMPLETION} } }`;
const SENTIMENT = `mutation ($text: String!) { analyzeSentiment(text: $text) { sentiment score ${COMPLETION} } }`;
const EMAIL = `mutation ($input: GenerateEmailInput!) { generateEmail(input: $input) { subject body ${COMPLETION} } }`;
const USAGE = '{ aiUsage(first: 100) { model succeeded promptName promptVersion } }';

const LABELS = ['Billing', 'Technical problem', 'Sales'];
const INVOICE_SCHEMA = {
  type: 'object',
  properties: {
    invoiceNumber: { type: 'string' },
    amount: { type: 'number', minimum: 0 },
    dueDate: { type: 'string', format: 'date' },
  },
  required: ['invoiceNumber', 'amount'],
  additionalProperties: false,
};

const member = (tenantId: string = randomUUID(), roles = [Role.Member]): Extract<Identity, { kind: 'user' }> => ({
  kind: 'user',
  userId: randomUUID(),
  tenantId,
  roles,
});

type Message = { role: string; content: string };

/**
 * The features against both providers' fakes, each answering what a test scripts: a well-formed answer is used, one the
 * feature cannot use is shown to the model with what is wrong and asked once more, and a second failure is an error.
 * Storage plays no part in them (prompts.test.ts covers it in both modes), so they run on embedded storage.
 */
describe('the AI features', () => {
  let fake: FakeLlmProviders;
  let ai: RunningSubgraph<AiServices>;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    fake = await FakeLlmProviders.start();
    cleanups.push(() => fake.close());
    const dataDir = await createTempDirectory('ai-features');
    cleanups.push(dataDir.remove);
    ai = await subgraph.start({
      PORT: '0',
      DATA_DIR: dataDir.path,
      LOG_LEVEL: 'silent',
      ...fake.environment,
      AI_RETRY_BASE_MS: '1',
      AI_RETRY_MAX_WAIT_MS: '5',
    });
    cleanups.push(() => ai.close());
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}) =>
    postGraphQL<T>(ai.graphqlUrl, query, { variables, headers: signIdentity(identity, ai.config.internalSecret) });
  /** The requests this test made to a provider, from `since` on. */
  const sentSince = (since: number) => fake.received.slice(since);
  const messagesOf = (request: { body: Record<string, any> }) => request.body.messages as Message[];
  const errorOf = (response: { errors?: readonly { message: string; extensions?: Record<string, unknown> }[] }) => response.errors?.[0];

  describe('summarize', () => {
    it('answers the summary with the SUMMARIZE model at temperature 0, its length asked of the model', async () => {
      const since = fake.received.length;
      fake.script('openai', answerWith('  Summary: The launch moved to May.\n'));
      const summarized = await ask(member(), SUMMARIZE, { text: 'After review, the launch moves from April to May.', maxWords: 10 });
      expect(summarized.errors).toBeUndefined();
      expect(summarized.data!.summarize).toEqual({
        text: 'The launch moved to May.',
        completion: { model: 'gpt-4o-mini', provider: 'OPENAI', promptName: 'summarize', promptVersion: 0 },
      });
      const [request] = sentSince(since);
      expect(request!.body).toMatchObject({ model: 'gpt-4o-mini', temperature: 0, max_completion_tokens: 84 });
      expect(messagesOf(request!)[1]!.content).toContain('in at most 10 words');
    });

    it('refuses a blank text and a length out of range before anything is sent', async () => {
      const since = fake.received.length;
      expect(errorOf(await ask(member(), SUMMARIZE, { text: '   ' }))).toMatchObject({
        message: '"text" must not be blank',
        extensions: { code: 'BAD_USER_INPUT', field: 'text' },
      });
      expect(errorOf(await ask(member(), SUMMARIZE, { text: 'Fine', maxWords: 0 }))).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'maxWords' },
      });
      expect(sentSince(since)).toEqual([]);
    });

    it('falls back to Anthropic when OpenAI fails, like every completion', async () => {
      fake.failAlways('openai', serverError);
      try {
        const summarized = await ask(member(), SUMMARIZE, { text: 'The office is closed on Friday for maintenance.' });
        expect(summarized.errors).toBeUndefined();
        expect(summarized.data!.summarize.completion).toMatchObject({ model: 'claude-haiku-4-5', provider: 'ANTHROPIC' });
      } finally {
        fake.recover('openai');
      }
    });
  });

  describe('classify', () => {
    it("reads the model's JSON, giving the label as the caller spelled it and the confidence stated", async () => {
      fake.script('openai', answerWith('```json\n{"label": "technical PROBLEM", "confidence": 0.83}\n```'));
      const classified = await ask(member(), CLASSIFY, { text: 'The app crashes when I upload a photo.', labels: LABELS });
      expect(classified.errors).toBeUndefined();
      expect(classified.data!.classify).toEqual({
        label: 'Technical problem',
        confidence: 0.83,
        completion: { model: 'gpt-4o-mini', provider: 'OPENAI', promptName: 'classify', promptVersion: 0 },
      });
    });

    it('reads a bare label in quotes, or prose that names exactly one label, with confidence 1', async () => {
      fake.script('openai', answerWith(' "Sales". '), answerWith('I would say this is about billing, clearly.'));
      const bare = await ask(member(), CLASSIFY, { text: 'Can I get a quote for 40 seats?', labels: LABELS });
      expect(bare.data!.classify).toMatchObject({ label: 'Sales', confidence: 1 });
      const prose = await ask(member(), CLASSIFY, { text: 'I was charged twice this month.', labels: LABELS });
      expect(prose.data!.classify).toMatchObject({ label: 'Billing', confidence: 1 });
    });

    it('asks once more, showing the model its answer, when the label is not one of those given', async () => {
      const since = fake.received.length;
      fake.script('openai', answerWith('{"label": "Refund", "confidence": 0.9}'), answerWith('{"label": "Billing", "confidence": 0.7}'));
      const classified = await ask(member(), CLASSIFY, { text: 'Please return my money for the duplicate charge.', labels: LABELS });
      expect(classified.errors).toBeUndefined();
      expect(classified.data!.classify).toMatchObject({ label: 'Billing', confidence: 0.7 });
      const [first, retry] = sentSince(since);
      expect(messagesOf(retry!)).toEqual([
        ...messagesOf(first!),
        { role: 'assistant', content: '{"label": "Refund", "confidence": 0.9}' },
        { role: 'user', content: expect.stringContaining('"Refund" is not one of the labels') },
      ]);
    });

    it('answers SERVICE_UNAVAILABLE naming the answer when the label is outside the set twice, and records both requests', async () => {
      const caller = member();
      const since = fake.received.length;
      fake.script('openai', answerWith('Refund'), answerWith('Chargeback'));
      const refused = await ask(caller, CLASSIFY, { text: 'Give me my money back.', labels: LABELS });
      expect(errorOf(refused)).toMatchObject({
        message: 'The model did not answer as the classify prompt asks, twice: "Chargeback" is not one of the labels; try again',
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
      expect(sentSince(since)).toHaveLength(2);
      const usage = (await ask(member(caller.tenantId, [Role.Owner]), USAGE)).data!.aiUsage;
      expect(usage).toEqual([
        { model: 'gpt-4o-mini', succeeded: true, promptName: 'classify', promptVersion: 0 },
        { model: 'gpt-4o-mini', succeeded: true, promptName: 'classify', promptVersion: 0 },
      ]);
    });

    it('asks the model again, rather than the cache, for a request whose earlier answers it could not use', async () => {
      const caller = member();
      const text = 'Charge me less next month.';
      fake.script('openai', answerWith('Refund'), answerWith('Chargeback'));
      expect(errorOf(await ask(caller, CLASSIFY, { text, labels: LABELS }))?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      const since = fake.received.length;
      fake.script('openai', answerWith('Billing'));
      const classified = await ask(caller, CLASSIFY, { text, labels: LABELS });
      expect(classified.data!.classify).toMatchObject({ label: 'Billing' });
      expect(sentSince(since)).toHaveLength(1);
    });

    it('refuses fewer than two labels and labels that differ only in case', async () => {
      expect(errorOf(await ask(member(), CLASSIFY, { text: 'Hi', labels: ['Only'] }))).toMatchObject({
        message: '"labels" must hold 2 to 50 labels',
        extensions: { code: 'BAD_USER_INPUT' },
      });
      expect(errorOf(await ask(member(), CLASSIFY, { text: 'Hi', labels: ['Sales', 'sales'] }))).toMatchObject({
        message: '"labels" must be distinct, ignoring case',
      });
    });
  });

  describe('extract', () => {
    it('returns the JSON the model wrote when it is valid against the schema, sending the schema with the text', async () => {
      const since = fake.received.length;
      fake.script('openai', answerWith('Here it is:\n{"invoiceNumber": "INV-2041", "amount": 1250.5, "dueDate": "2026-12-31"}'));
      const extracted = await ask(member(), EXTRACT, {
        text: 'Invoice INV-2041 for 1,250.50 EUR is due on 31 December 2026.',
        schema: INVOICE_SCHEMA,
      });
      expect(extracted.errors).toBeUndefined();
      expect(extracted.data!.extract).toEqual({
        data: { invoiceNumber: 'INV-2041', amount: 1250.5, dueDate: '2026-12-31' },
        completion: { model: 'gpt-4o', provider: 'OPENAI', promptName: 'extract', promptVersion: 0 },
      });
      expect(messagesOf(sentSince(since)[0]!)[1]!.content).toContain(JSON.stringify(INVOICE_SCHEMA, null, 2));
    });

    it('repairs an answer that fails validation by sending the validation errors back, once', async () => {
      const since = fake.received.length;
      fake.script(
        'openai',
        answerWith('{"invoiceNumber": "INV-7", "amount": "ninety", "dueDate": "soon"}'),
        answerWith('{"invoiceNumber": "INV-7", "amount": 90}'),
      );
      const extracted = await ask(member(), EXTRACT, { text: 'Invoice INV-7: ninety euros, due soon.', schema: INVOICE_SCHEMA });
      expect(extracted.errors).toBeUndefined();
      expect(extracted.data!.extract.data).toEqual({ invoiceNumber: 'INV-7', amount: 90 });
      const correction = messagesOf(sentSince(since)[1]!).at(-1)!;
      expect(correction.content).toContain('answer/amount must be number');
      expect(correction.content).toContain('answer/dueDate must match format "date"');
    });

    it('answers SERVICE_UNAVAILABLE with the validation errors when the repair fails too, and when the answer is never JSON', async () => {
      fake.script('openai', answerWith('{"amount": -1}'), answerWith('{"amount": -2}'));
      const invalid = await ask(member(), EXTRACT, { text: 'Invoice without a number, minus two euros.', schema: INVOICE_SCHEMA });
      expect(errorOf(invalid)).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
      expect(errorOf(invalid)!.message).toContain("answer must have required property 'invoiceNumber'");
      expect(errorOf(invalid)!.message).toContain('answer/amount must be >= 0');

      fake.script('openai', answerWith('I cannot find an invoice.'), answerWith('Sorry, still nothing.'));
      const prose = await ask(member(), EXTRACT, { text: 'Nothing to see.', schema: INVOICE_SCHEMA });
      expect(errorOf(prose)).toMatchObject({
        message: 'The model did not answer as the extract prompt asks, twice: the answer is not JSON; try again',
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
    });

    it('refuses a schema that is not a JSON Schema before anything is sent', async () => {
      const since = fake.received.length;
      expect(errorOf(await ask(member(), EXTRACT, { text: 'x', schema: { type: 'thing' } }))).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'schema' },
      });
      expect(errorOf(await ask(member(), EXTRACT, { text: 'x', schema: { type: 'object', requierd: ['a'] } }))?.message).toContain(
        'unknown keyword: "requierd"',
      );
      expect(errorOf(await ask(member(), EXTRACT, { text: 'x', schema: ['not', 'a', 'schema'] }))).toMatchObject({
        message: '"schema" must be a JSON Schema object',
      });
      expect(sentSince(since)).toEqual([]);
    });
  });

  describe('analyzeSentiment', () => {
    it('reads the sentiment and its score, holding the score to -1..1', async () => {
      fake.script('openai', answerWith('{"sentiment": "negative", "score": -0.8}'), answerWith('{"sentiment": "POSITIVE", "score": 3}'));
      const negative = await ask(member(), SENTIMENT, { text: 'The delivery was late and the box was crushed.' });
      expect(negative.data!.analyzeSentiment).toEqual({
        sentiment: 'NEGATIVE',
        score: -0.8,
        completion: { model: 'gpt-4o-mini', provider: 'OPENAI', promptName: 'analyze-sentiment', promptVersion: 0 },
      });
      const positive = await ask(member(), SENTIMENT, { text: 'Wonderful service!' });
      expect(positive.data!.analyzeSentiment).toMatchObject({ sentiment: 'POSITIVE', score: 1 });
    });

    it('asks once more when the answer is not a sentiment with a score, then refuses', async () => {
      fake.script('openai', answerWith('Mostly happy'), answerWith('{"sentiment": "MIXED", "score": 0.1}'));
      const repaired = await ask(member(), SENTIMENT, { text: 'Great food, slow service.' });
      expect(repaired.data!.analyzeSentiment).toMatchObject({ sentiment: 'MIXED', score: 0.1 });
      fake.script('openai', answerWith('Happy'), answerWith('{"sentiment": "ECSTATIC", "score": 1}'));
      const refused = await ask(member(), SENTIMENT, { text: 'Best day ever.' });
      expect(errorOf(refused)).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
    });
  });

  describe('generateEmail', () => {
    const input = {
      purpose: 'Ask for invoice INV-2041 to be paid',
      recipientName: 'Dana',
      tone: 'FRIENDLY',
      keyPoints: ['It was due on 1 November', 'Bank details are unchanged'],
    };

    it('writes a subject and body from the purpose, recipient, tone and key points', async () => {
      const since = fake.received.length;
      fake.script(
        'openai',
        answerWith(JSON.stringify({ subject: 'Invoice INV-2041', body: 'Hi Dana,\n\nA friendly reminder…\n\nBest,\nSam' })),
      );
      const drafted = await ask(member(), EMAIL, { input });
      expect(drafted.errors).toBeUndefined();
      expect(drafted.data!.generateEmail).toEqual({
        subject: 'Invoice INV-2041',
        body: 'Hi Dana,\n\nA friendly reminder…\n\nBest,\nSam',
        completion: { model: 'gpt-4o', provider: 'OPENAI', promptName: 'generate-email', promptVersion: 0 },
      });
      expect(messagesOf(sentSince(since)[0]!)[1]!.content).toBe(
        'Purpose: Ask for invoice INV-2041 to be paid\nRecipient: Dana\nTone: friendly\nKey points, one a line:\n- It was due on 1 November\n- Bank details are unchanged',
      );
    });

    it('reads a "Subject:" line and the rest as the body, and asks once more when there is neither', async () => {
      fake.script('openai', answerWith('Subject: Payment reminder\n\nHello,\nplease pay.'));
      const headed = await ask(member(), EMAIL, { input: { ...input, recipientName: null } });
      expect(headed.data!.generateEmail).toMatchObject({ subject: 'Payment reminder', body: 'Hello,\nplease pay.' });
      fake.script('openai', answerWith('Sure!'), answerWith('Still no email'));
      expect(errorOf(await ask(member(), EMAIL, { input }))).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
    });

    it('refuses a VIEWER with FORBIDDEN and a blank purpose with BAD_USER_INPUT, sending nothing', async () => {
      const since = fake.received.length;
      expect(errorOf(await ask(member(randomUUID(), [Role.Viewer]), EMAIL, { input }))).toMatchObject({
        extensions: { code: 'FORBIDDEN' },
      });
      expect(errorOf(await ask(member(), EMAIL, { input: { ...input, purpose: ' ' } }))).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.purpose' },
      });
      expect(sentSince(since)).toEqual([]);
    });
  });
});
