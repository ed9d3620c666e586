import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { badUserInput, clientError, ErrorCode, requireRole, WRITER_ROLES, type EntityManager, type Identity } from '@nexusflow/kit';
import type { AiModels, CompletionChunk, CompletionView } from './ai-models.ts';
import type { PromptProvenance, PromptReference, PromptTemplates, RenderedPrompt } from './prompts.ts';

type ChatRoleName = 'SYSTEM' | 'USER' | 'ASSISTANT';

/** `complete`'s input as the schema has it: messages, or a prompt template and its variables. */
export interface CompletionRequest {
  messages?: readonly { role: ChatRoleName; content: string }[] | null;
  prompt?: PromptReference | null;
  variables?: unknown;
  model?: string | null;
  task?: string | null;
  temperature?: number | null;
  maxTokens?: number | null;
}

export type Sentiment = 'POSITIVE' | 'NEUTRAL' | 'NEGATIVE' | 'MIXED';
export type EmailTone = 'FORMAL' | 'NEUTRAL' | 'FRIENDLY' | 'PERSUASIVE' | 'APOLOGETIC';

export interface EmailRequest {
  purpose: string;
  recipientName?: string | null;
  tone: EmailTone;
  keyPoints: readonly string[];
}

/**
 * What a feature makes of a model's answer: the value, or what is wrong with it and what to tell the model when it is
 * asked once more.
 */
type Reading<T> = { ok: true; value: T } | { ok: false; problem: string; correction: string };

interface Answered<T> {
  value: T;
  completion: CompletionView;
}

// ajv-formats is CommonJS: Node hands an ES module its module.exports, which is the plugin; TypeScript types the namespace.
const addFormats = ajvFormats as unknown as typeof ajvFormats.default;

const SENTIMENTS: readonly Sentiment[] = ['POSITIVE', 'NEUTRAL', 'NEGATIVE', 'MIXED'];
const MAX_WORDS = 1_000;
const MIN_LABELS = 2;
const MAX_LABELS = 50;
const MAX_LABEL_LENGTH = 200;
const MAX_SCHEMA_CHARACTERS = 20_000;
const MAX_KEY_POINTS = 20;
/** Enough for a label or a sentiment and its number, as JSON. */
const SHORT_ANSWER_TOKENS = 200;
/** How much of an unusable answer an error quotes. */
const QUOTED = 120;

/**
 * The AI features (summaries, classification, extraction, sentiment, emails) and completions from prompt templates.
 * Each renders its prompt (the tenant's version of the feature's name, or the built-in default) and asks through
 * AiModels, so limits, routing, fallback, circuits and usage are those of every completion, and the completion records
 * the prompt's name and version. An answer a feature cannot use is shown to the model with what is wrong, once; a
 * second unusable answer is SERVICE_UNAVAILABLE, which the caller may retry.
 */
export class AiFeatures {
  constructor(
    private readonly models: AiModels,
    private readonly prompts: PromptTemplates,
  ) {}

  async complete(em: EntityManager, identity: Identity, input: CompletionRequest): Promise<CompletionView> {
    const { request, provenance } = await this.completionRequest(em, identity, input);
    return this.models.complete(identity, request, undefined, provenance);
  }

  async stream(em: EntityManager, identity: Identity, input: CompletionRequest): Promise<AsyncIterable<CompletionChunk>> {
    const { request, provenance } = await this.completionRequest(em, identity, input);
    return this.models.stream(identity, request, provenance);
  }

  async summarize(
    em: EntityManager,
    identity: Identity,
    args: { text: string; maxWords?: number | null; prompt?: PromptReference | null },
  ): Promise<{ text: string; completion: CompletionView }> {
    this.admit(identity);
    const text = notBlank(args.text, 'text');
    const maxWords = args.maxWords ?? 120;
    if (!Number.isInteger(maxWords) || maxWords < 1 || maxWords > MAX_WORDS)
      throw badUserInput(`"maxWords" must be between 1 and ${MAX_WORDS}`, { field: 'maxWords' });
    const rendered = await this.render(em, args.prompt, 'summarize', { text, maxWords });
    // About two tokens a word, and room for the last sentence.
    const answered = await this.answer(identity, rendered, { temperature: 0, maxTokens: maxWords * 2 + 64 }, readSummary);
    return { text: answered.value, completion: answered.completion };
  }

  async classify(
    em: EntityManager,
    identity: Identity,
    args: { text: string; labels: readonly string[]; prompt?: PromptReference | null },
  ): Promise<{ label: string; confidence: number; completion: CompletionView }> {
    this.admit(identity);
    const text = notBlank(args.text, 'text');
    const labels = checkedLabels(args.labels);
    const rendered = await this.render(em, args.prompt, 'classify', { text, labels: labels.join('\n') });
    const answered = await this.answer(identity, rendered, { temperature: 0, maxTokens: SHORT_ANSWER_TOKENS }, (answer) =>
      readClassification(answer, labels),
    );
    return { ...answered.value, completion: answered.completion };
  }

  async extract(
    em: EntityManager,
    identity: Identity,
    args: { text: string; schema: unknown; prompt?: PromptReference | null },
  ): Promise<{ data: unknown; completion: CompletionView }> {
    this.admit(identity);
    const text = notBlank(args.text, 'text');
    const { validate, errorsText } = compileSchema(args.schema);
    const rendered = await this.render(em, args.prompt, 'extract', { text, schema: JSON.stringify(args.schema, null, 2) });
    const answered = await this.answer(identity, rendered, { temperature: 0 }, (answer) => readExtraction(answer, validate, errorsText));
    return { data: answered.value, completion: answered.completion };
  }

  async analyzeSentiment(
    em: EntityManager,
    identity: Identity,
    args: { text: string; prompt?: PromptReference | null },
  ): Promise<{ sentiment: Sentiment; score: number; completion: CompletionView }> {
    this.admit(identity);
    const text = notBlank(args.text, 'text');
    const rendered = await this.render(em, args.prompt, 'analyze-sentiment', { text });
    const answered = await this.answer(identity, rendered, { temperature: 0, maxTokens: SHORT_ANSWER_TOKENS }, readSentiment);
    return { ...answered.value, completion: answered.completion };
  }

  async generateEmail(
    em: EntityManager,
    identity: Identity,
    args: { input: EmailRequest; prompt?: PromptReference | null },
  ): Promise<{ subject: string; body: string; completion: CompletionView }> {
    this.admit(identity);
    const { input } = args;
    const purpose = notBlank(input.purpose, 'input.purpose');
    if (input.keyPoints.length > MAX_KEY_POINTS)
      throw badUserInput(`"input.keyPoints" must hold at most ${MAX_KEY_POINTS} points`, { field: 'input.keyPoints' });
    const keyPoints = input.keyPoints.map((point) => notBlank(point, 'input.keyPoints'));
    const rendered = await this.render(em, args.prompt, 'generate-email', {
      purpose,
      recipientName: input.recipientName?.trim() || 'not named',
      tone: input.tone.toLowerCase(),
      keyPoints: keyPoints.length > 0 ? keyPoints.map((point) => `- ${point}`).join('\n') : '(none)',
    });
    const answered = await this.answer(identity, rendered, { temperature: 0.7 }, readEmail);
    return { ...answered.value, completion: answered.completion };
  }

  /** Refusals that need no input come first: a VIEWER is FORBIDDEN, and without a provider nothing can be asked. */
  private admit(identity: Identity): void {
    requireRole(identity, WRITER_ROLES);
    this.models.requireProvider();
  }

  private async completionRequest(
    em: EntityManager,
    identity: Identity,
    input: CompletionRequest,
  ): Promise<{ request: Omit<CompletionRequest, 'prompt' | 'variables'>; provenance?: PromptProvenance }> {
    const { prompt, variables, ...request } = input;
    if (!prompt && request.messages) return { request };
    this.admit(identity);
    if (!prompt)
      throw badUserInput('"input.messages" is required unless "input.prompt" names a prompt template', { field: 'input.messages' });
    if (request.messages)
      throw badUserInput('"input.messages" and "input.prompt" exclude each other: give one', { field: 'input.messages' });
    const rendered = await this.prompts.render(em, prompt, variablesOf(variables), {
      prompt: 'input.prompt',
      variables: 'input.variables',
    });
    return {
      request: { ...request, messages: rendered.messages, task: request.task ?? rendered.task },
      provenance: rendered.provenance,
    };
  }

  private render(
    em: EntityManager,
    reference: PromptReference | null | undefined,
    feature: string,
    variables: Record<string, unknown>,
  ): Promise<RenderedPrompt> {
    return this.prompts.render(em, reference ?? { name: feature }, variables, { prompt: 'prompt', variables: 'prompt' });
  }

  /** Asks, reads the answer, and when it cannot be used asks once more, showing the model its answer and what is wrong. */
  private async answer<T>(
    identity: Identity,
    rendered: RenderedPrompt,
    settings: { temperature: number; maxTokens?: number },
    read: (answer: string) => Reading<T>,
  ): Promise<Answered<T>> {
    const messages: { role: ChatRoleName; content: string }[] = [...rendered.messages];
    for (let attempt = 1; ; attempt += 1) {
      const completion = await this.models.complete(
        identity,
        { messages, task: rendered.task, ...settings },
        undefined,
        rendered.provenance,
        (text) => read(text).ok,
      );
      const reading = read(completion.text);
      if (reading.ok) return { value: reading.value, completion };
      if (attempt === 2)
        throw clientError(
          ErrorCode.ServiceUnavailable,
          `The model did not answer as the ${rendered.provenance.promptName} prompt asks, twice: ${reading.problem}; try again`,
        );
      messages.push({ role: 'ASSISTANT', content: completion.text.trim() || '(no answer)' }, { role: 'USER', content: reading.correction });
    }
  }
}

function notBlank(value: string, field: string): string {
  const trimmed = value.trim();
  if (!trimmed) throw badUserInput(`"${field}" must not be blank`, { field });
  return trimmed;
}

function variablesOf(variables: unknown): Record<string, unknown> {
  if (variables == null) return {};
  if (typeof variables !== 'object' || Array.isArray(variables))
    throw badUserInput('"input.variables" must be an object of values by variable name', { field: 'input.variables' });
  return variables as Record<string, unknown>;
}

const quoted = (text: string) => JSON.stringify(text.length > QUOTED ? `${text.slice(0, QUOTED)}…` : text);

/** Lower case, single spaces, without the quotes, backticks and end punctuation a model wraps a word in. */
const normalized = (text: string) =>
  text
    .trim()
    .replace(/^["'`*\s]+|["'`*.!\s]+$/g, '')
    .replace(/\s+/g, ' ')
    .toLowerCase();

/**
 * A JSON value in an answer: the whole answer, the inside of a code fence, or the outermost object or array in prose.
 * Undefined when there is none.
 */
export function jsonIn(answer: string): { value: unknown } | undefined {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(answer)?.[1];
  const outermost = (open: string, close: string) => {
    const start = answer.indexOf(open);
    const end = answer.lastIndexOf(close);
    return start >= 0 && end > start ? answer.slice(start, end + 1) : undefined;
  };
  for (const candidate of [answer.trim(), fenced?.trim(), outermost('{', '}'), outermost('[', ']')]) {
    if (!candidate) continue;
    try {
      return { value: JSON.parse(candidate) as unknown };
    } catch {
      // Not this one; the next candidate may be.
    }
  }
  return undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function checkedLabels(given: readonly string[]): string[] {
  const labels = given.map((label) => notBlank(label, 'labels'));
  if (labels.length < MIN_LABELS || labels.length > MAX_LABELS)
    throw badUserInput(`"labels" must hold ${MIN_LABELS} to ${MAX_LABELS} labels`, { field: 'labels' });
  if (labels.some((label) => label.length > MAX_LABEL_LENGTH))
    throw badUserInput(`"labels" must each be at most ${MAX_LABEL_LENGTH} characters`, { field: 'labels' });
  if (new Set(labels.map(normalized)).size !== labels.length)
    throw badUserInput('"labels" must be distinct, ignoring case', { field: 'labels' });
  return labels;
}

function readSummary(answer: string): Reading<string> {
  const summary = answer.trim().replace(/^summary:\s*/i, '');
  return summary
    ? { ok: true, value: summary }
    : { ok: false, problem: 'the answer was empty', correction: 'Your answer was empty. Answer with the summary alone.' };
}

/**
 * The label an answer gives: JSON's `label` (with its `confidence`), or the answer itself, matched to a label ignoring
 * case, quotes and end punctuation; or, in prose, the one label it names. Anything else is outside the labels.
 */
export function readClassification(answer: string, labels: readonly string[]): Reading<{ label: string; confidence: number }> {
  const json = jsonIn(answer)?.value;
  const given = isRecord(json) && typeof json.label === 'string' ? json.label : typeof json === 'string' ? json : answer;
  const stated = isRecord(json) && typeof json.confidence === 'number' ? json.confidence : 1;
  const confidence = Math.min(Math.max(stated, 0), 1);
  const exact = labels.find((label) => normalized(label) === normalized(given));
  if (exact) return { ok: true, value: { label: exact, confidence } };
  const prose = ` ${normalized(given).replace(/[^\p{L}\p{N}]+/gu, ' ')} `;
  const named = labels.filter((label) =>
    prose.includes(
      ` ${normalized(label)
        .replace(/[^\p{L}\p{N}]+/gu, ' ')
        .trim()} `,
    ),
  );
  if (named.length === 1) return { ok: true, value: { label: named[0]!, confidence } };
  return {
    ok: false,
    problem: `${quoted(given)} is not one of the labels`,
    correction: `${quoted(given)} is not one of the labels. Answer again with JSON only: {"label": <exactly one of ${JSON.stringify(labels)}>, "confidence": <0 to 1>}.`,
  };
}

/** A validator for the caller's JSON Schema, or BAD_USER_INPUT saying what is wrong with it. */
function compileSchema(schema: unknown): { validate: ValidateFunction; errorsText: (validate: ValidateFunction) => string } {
  if (!isRecord(schema)) throw badUserInput('"schema" must be a JSON Schema object', { field: 'schema' });
  if (JSON.stringify(schema).length > MAX_SCHEMA_CHARACTERS)
    throw badUserInput(`"schema" must be at most ${MAX_SCHEMA_CHARACTERS} characters as JSON`, { field: 'schema' });
  // One validator per request: Ajv keeps every schema it compiled (and each $id), which callers' schemas must not fill.
  const ajv = new Ajv({ allErrors: true, logger: false });
  addFormats(ajv);
  try {
    return {
      validate: ajv.compile(schema),
      errorsText: (validate) => ajv.errorsText(validate.errors, { dataVar: 'answer' }),
    };
  } catch (error) {
    throw badUserInput(`"schema" is not a JSON Schema this service can use: ${(error as Error).message}`, { field: 'schema' });
  }
}

export function readExtraction(
  answer: string,
  validate: ValidateFunction,
  errorsText: (validate: ValidateFunction) => string,
): Reading<unknown> {
  const json = jsonIn(answer);
  if (!json)
    return {
      ok: false,
      problem: 'the answer is not JSON',
      correction:
        'Your answer is not JSON. Answer again with only the JSON value, valid against the JSON Schema: no prose, no code fences.',
    };
  if (validate(json.value)) return { ok: true, value: json.value };
  const errors = errorsText(validate);
  return {
    ok: false,
    problem: `the answer does not match the schema: ${errors}`,
    correction: `Your answer does not match the JSON Schema: ${errors}. Answer again with only the corrected JSON value.`,
  };
}

function readSentiment(answer: string): Reading<{ sentiment: Sentiment; score: number }> {
  const json = jsonIn(answer)?.value;
  const sentiment = isRecord(json) && typeof json.sentiment === 'string' ? json.sentiment.trim().toUpperCase() : undefined;
  const score = isRecord(json) && typeof json.score === 'number' ? json.score : undefined;
  if (sentiment && SENTIMENTS.includes(sentiment as Sentiment) && score !== undefined)
    return { ok: true, value: { sentiment: sentiment as Sentiment, score: Math.min(Math.max(score, -1), 1) } };
  return {
    ok: false,
    problem: `${quoted(answer.trim())} is not a sentiment and a score`,
    correction:
      'Answer again with JSON only: {"sentiment": "POSITIVE" | "NEUTRAL" | "NEGATIVE" | "MIXED", "score": <-1 (wholly negative) to 1 (wholly positive)>}.',
  };
}

/** JSON's subject and body; or a first line "Subject: …" and the rest as the body. */
function readEmail(answer: string): Reading<{ subject: string; body: string }> {
  const json = jsonIn(answer)?.value;
  if (isRecord(json) && typeof json.subject === 'string' && typeof json.body === 'string' && json.subject.trim() && json.body.trim())
    return { ok: true, value: { subject: json.subject.trim(), body: json.body.trim() } };
  const headed = /^\s*subject:\s*(.+)\r?\n([\s\S]+)$/i.exec(answer);
  if (headed?.[1]?.trim() && headed[2]?.trim()) return { ok: true, value: { subject: headed[1].trim(), body: headed[2].trim() } };
  return {
    ok: false,
    problem: 'the answer has no subject and body',
    correction: 'Answer again with JSON only: {"subject": "<subject line>", "body": "<plain-text body>"}.',
  };
}
