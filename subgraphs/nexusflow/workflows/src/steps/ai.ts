import { callSubgraph, Role, SubgraphRequestError, type Identity, type TypedDocumentNode } from '@nexusflow/kit';
import { z } from 'zod';
import {
  WorkflowAiClassifyDocument,
  WorkflowAiCompleteDocument,
  WorkflowAiExtractDocument,
  WorkflowAiSummarizeDocument,
  type WorkflowAiStepCompletionFragment,
} from '../__generated__/ai-operations.ts';
import { evaluateTemplate, evaluateTemplateText } from './template.ts';
import { StepError, type StepContext, type StepExecutor } from './types.ts';

export interface AiStepOptions {
  /** The ai subgraph's GraphQL endpoint. */
  aiUrl: string;
  /** Signs the identity the step sends with, as the gateway signs its own. */
  internalSecret: string;
}

/**
 * The step's own timeout (at most 15 minutes) bounds the call: a model may take longer than the 10 seconds calls
 * between services get by default, and the ai service retries and falls back within it.
 */
const CALL_TIMEOUT_MS = 15 * 60_000;

/** A template of the ai service's prompt library; the tenant's latest version of it when no version is given. */
const promptReference = z.object({ name: z.string().min(1), version: z.number().int().min(0).optional() }).strict();

/** Templated text that must not be blank once rendered. */
const text = z.string().refine((value) => value.trim() !== '', 'must not be empty');

export const aiStepConfig = z.discriminatedUnion('operation', [
  z
    .object({
      operation: z.literal('complete'),
      /** Templated: what the model is asked. Either this or `template`. */
      prompt: text.optional(),
      /** Templated: instructions the model follows throughout. */
      system: text.optional(),
      /** A template of the prompt library to render instead of `prompt`, with `variables` (strings templated). */
      template: promptReference.optional(),
      variables: z.record(z.string(), z.unknown()).optional(),
      /** A chat model of the ai service's catalogue; its routing picks one when omitted. */
      model: z.string().min(1).optional(),
      temperature: z.number().min(0).max(2).optional(),
      maxTokens: z.number().int().min(1).optional(),
    })
    .strict()
    .refine((config) => (config.prompt === undefined) !== (config.template === undefined), {
      message: 'needs either a prompt or a template, not both',
      path: ['prompt'],
    }),
  z
    .object({
      operation: z.literal('classify'),
      /** Templated. */
      text,
      /** The labels to choose from (2 to 50); each templated. */
      labels: z.array(text).min(2).max(50),
      template: promptReference.optional(),
    })
    .strict(),
  z
    .object({
      operation: z.literal('extract'),
      /** Templated. */
      text,
      /** A JSON Schema of the data; the output's `data` is valid against it. */
      schema: z.record(z.string(), z.unknown()),
      template: promptReference.optional(),
    })
    .strict(),
  z
    .object({
      operation: z.literal('summarize'),
      /** Templated. */
      text,
      /** @default 120 */
      maxWords: z.number().int().min(1).max(1000).optional(),
      template: promptReference.optional(),
    })
    .strict(),
]);

export type AiStepConfig = z.output<typeof aiStepConfig>;

/** Which model answered, from which prompt, at what cost: the same for every operation. */
export type AiStepCompletion = Omit<WorkflowAiStepCompletionFragment, ' $fragmentName'>;

export type AiStepOutput =
  | ({ operation: 'complete'; text: string } & AiStepCompletion)
  | ({ operation: 'classify'; label: string; confidence: number } & AiStepCompletion)
  | ({ operation: 'extract'; data: unknown } & AiStepCompletion)
  | ({ operation: 'summarize'; summary: string } & AiStepCompletion);

/**
 * Asks the ai service, for the execution's owner, to complete a prompt, classify a text, extract data from it or
 * summarise it; later steps read the answer from its output, e.g. `{{steps.triage.output.label}}`.
 */
export function aiStep(options: AiStepOptions): StepExecutor<AiStepConfig> {
  return {
    type: 'ai',
    description:
      'Asks an AI model, for the workflow’s owner: complete a prompt (output text), classify a text among labels (label, confidence), extract data valid against a JSON Schema (data), or summarise a text (summary).',
    config: aiStepConfig,
    async execute(config, context) {
      if (context.signal.aborted) throw cancelled();
      const call = <TResult, TVariables>(query: TypedDocumentNode<TResult, TVariables>, variables: TVariables) =>
        ask(options, context, query, variables);
      const prompt = config.template ? { prompt: config.template } : {};
      let output: AiStepOutput;
      switch (config.operation) {
        case 'complete': {
          const { text: answer, ...completion } = (
            await call(WorkflowAiCompleteDocument, { input: await completionInput(config, context) })
          ).complete;
          output = { operation: 'complete', text: answer, ...completion };
          break;
        }
        case 'classify': {
          const labels = await Promise.all(config.labels.map((label, index) => renderedText(label, context, `labels.${index}`)));
          const { label, confidence, completion } = (
            await call(WorkflowAiClassifyDocument, { text: await renderedText(config.text, context, 'text'), labels, ...prompt })
          ).classify;
          output = { operation: 'classify', label, confidence, ...completion };
          break;
        }
        case 'extract': {
          const { data, completion } = (
            await call(WorkflowAiExtractDocument, {
              text: await renderedText(config.text, context, 'text'),
              schema: config.schema,
              ...prompt,
            })
          ).extract;
          output = { operation: 'extract', data, ...completion };
          break;
        }
        case 'summarize': {
          const { text: summary, completion } = (
            await call(WorkflowAiSummarizeDocument, {
              text: await renderedText(config.text, context, 'text'),
              ...(config.maxWords === undefined ? {} : { maxWords: config.maxWords }),
              ...prompt,
            })
          ).summarize;
          output = { operation: 'summarize', summary, ...completion };
          break;
        }
      }
      return { kind: 'completed', output };
    },
  };
}

async function completionInput(config: Extract<AiStepConfig, { operation: 'complete' }>, context: StepContext) {
  const tuning = {
    ...(config.model === undefined ? {} : { model: config.model }),
    ...(config.temperature === undefined ? {} : { temperature: config.temperature }),
    ...(config.maxTokens === undefined ? {} : { maxTokens: config.maxTokens }),
  };
  if (config.template) {
    return { prompt: config.template, variables: await evaluateTemplate(config.variables ?? {}, context, 'variables'), ...tuning };
  }
  const messages = [
    ...(config.system === undefined ? [] : [{ role: 'SYSTEM' as const, content: await renderedText(config.system, context, 'system') }]),
    { role: 'USER' as const, content: await renderedText(config.prompt ?? '', context, 'prompt') },
  ];
  return { messages, ...tuning };
}

/** A model asked about nothing answers something anyway; a template that renders to nothing is the workflow's mistake. */
async function renderedText(template: string, context: StepContext, field: string): Promise<string> {
  const rendered = await evaluateTemplateText(template, context, field);
  if (rendered.trim() === '') throw new StepError(`${field} rendered to nothing`, false, { field });
  return rendered;
}

async function ask<TResult, TVariables>(
  options: AiStepOptions,
  context: StepContext,
  query: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  const { signal } = context;
  try {
    return await callSubgraph({
      url: options.aiUrl,
      internalSecret: options.internalSecret,
      identity: ownerOf(context),
      query,
      variables,
      signal,
      timeoutMs: CALL_TIMEOUT_MS,
    });
  } catch (error) {
    if (signal.aborted) throw cancelled();
    if (!(error instanceof SubgraphRequestError)) throw error;
    const details = { code: error.code, ...(error.status === undefined ? {} : { status: error.status }) };
    // RATE_LIMITED and SERVICE_UNAVAILABLE pass; BAD_USER_INPUT (too many tokens, a label the model cannot keep to) does not.
    if (error.retryable) throw new StepError(`the ai service could not answer: ${error.message}`, true, details);
    throw new StepError(`the ai service refused the request: ${error.message}`, false, details);
  }
}

/**
 * The owner, with the least role that may ask the ai service: the engine acts for them, and must not be able to do
 * more than a member of their tenant could. The tenant's limits and usage count the step as the owner's request.
 */
function ownerOf(context: StepContext): Extract<Identity, { kind: 'user' }> {
  const { ownerId, tenantId } = context.execution;
  if (!ownerId) throw new StepError('this run has no owner to ask the ai service for: it started before runs recorded their owner', false);
  return { kind: 'user', userId: ownerId, tenantId, roles: [Role.Member] };
}

function cancelled(): StepError {
  return new StepError('timed out or cancelled', true);
}
