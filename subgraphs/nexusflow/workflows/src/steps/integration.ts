import { isUuid, type TypedDocumentNode } from '@nexusflow/kit';
import { z } from 'zod';
import {
  WorkflowIntegrationPostMessageDocument,
  WorkflowIntegrationSaveCrmContactDocument,
  WorkflowIntegrationSendToHookDocument,
  type WorkflowIntegrationStepFailureFragment,
} from '../__generated__/integrations-operations.ts';
import { evaluateRequiredText, evaluateTemplate, evaluateTemplateText } from './template.ts';
import { callStepService, ownerAsMember } from './service-call.ts';
import { cancelled, StepError, type StepContext, type StepExecutor } from './types.ts';

export interface IntegrationStepOptions {
  /** The integrations subgraph's GraphQL endpoint. */
  integrationsUrl: string;
  /** Signs the identity the step sends with, as the gateway signs its own. */
  internalSecret: string;
}

/**
 * A provider has the integrations service's timeout to answer, and a rejected token is refreshed and the request sent
 * again: more than the 10 seconds calls between services get by default. The step's own timeout still bounds it.
 */
const CALL_TIMEOUT_MS = 60_000;
const TEMPLATE = /\{\{[^{}]*\}\}/;

/** An integration of the run's tenant: its id, or a template that renders to one, e.g. `{{input.integrationId}}`. */
const integrationId = z
  .string()
  .refine((id) => TEMPLATE.test(id) || isUuid(id.trim()), 'is neither an integration id nor a {{…}} template');

/** Templated text that must not be blank once rendered. */
const text = z.string().refine((value) => value.trim() !== '', 'must not be empty');

export const integrationStepConfig = z.discriminatedUnion('action', [
  z
    .object({
      action: z.literal('postMessage'),
      integrationId,
      /** Templated: a Slack channel's id or #name, a Teams channel (`<team id>/<channel id>`) or chat id. */
      channel: text,
      /** Templated: the message. */
      text,
    })
    .strict(),
  z
    .object({
      action: z.literal('sendToHook'),
      integrationId,
      /** Templated (strings inside, as everywhere): the JSON sent to the Zapier or Make hook. */
      payload: z.unknown().refine((payload) => payload !== undefined, 'is required'),
    })
    .strict(),
  z
    .object({
      action: z.literal('upsertCrmRecord'),
      /**
       * Templated: the contact to change, by its NexusFlow id. Without it, the tenant's contact with the record's email
       * is changed, and one is created only when none has it (or the record has no email).
       */
      contactId: z.string().optional(),
      /** Templated: the contact's fields; those left out stay as they are. The next sync sends it to every connected CRM. */
      record: z
        .object({
          email: z.string().optional(),
          firstName: z.string().optional(),
          lastName: z.string().optional(),
          phone: z.string().optional(),
          company: z.string().optional(),
          custom: z.record(z.string(), z.unknown()).optional(),
        })
        .strict()
        .refine((record) => Object.keys(record).length > 0, 'needs at least one field'),
    })
    .strict(),
]);

export type IntegrationStepConfig = z.output<typeof integrationStepConfig>;

export type IntegrationStepOutput =
  | { action: 'postMessage'; integrationId: string; provider: string; channel: string; messageId: string; postedAt: string }
  | { action: 'sendToHook'; integrationId: string; provider: string; status: number }
  | { action: 'upsertCrmRecord'; contactId: string };

/**
 * Acts at a provider through a connection of the run's tenant, for the execution's owner: posts to Slack or Teams,
 * sends a payload to a Zapier or Make hook, or creates or changes a CRM contact (sent to the CRMs by the next sync). The provider's failures keep their meaning: a rate limit or an outage
 * fails the attempt retryably, a refusal (an unknown channel, a bot not in it, a deleted hook) fails the step for good.
 */
export function integrationStep(options: IntegrationStepOptions): StepExecutor<IntegrationStepConfig> {
  return {
    type: 'integration',
    description:
      'Acts through one of the tenant’s integrations, for the workflow’s owner: posts a message to Slack or Microsoft Teams (postMessage), sends a JSON payload to a Zapier or Make hook (sendToHook), or creates or changes a contact that the next sync sends to the CRMs (upsertCrmRecord).',
    config: integrationStepConfig,
    async execute(config, context) {
      if (context.signal.aborted) throw cancelled();
      const service = {
        url: options.integrationsUrl,
        internalSecret: options.internalSecret,
        timeoutMs: CALL_TIMEOUT_MS,
        unavailable: 'the integrations service could not answer',
        refused: 'the integrations service refused the request',
      };
      const owner = ownerAsMember(context, 'act for');
      const call = <TResult, TVariables>(query: TypedDocumentNode<TResult, TVariables>, variables: TVariables) =>
        callStepService(service, context, owner, query, variables);
      let output: IntegrationStepOutput;
      if (config.action === 'postMessage') {
        const id = await integrationIdOf(config.integrationId, context);
        const channel = await evaluateRequiredText(config.channel, context, 'channel');
        const message = await evaluateRequiredText(config.text, context, 'text');
        const result = (
          await call(WorkflowIntegrationPostMessageDocument, {
            integrationId: id,
            channel,
            text: message,
            idempotencyKey: context.idempotencyKey,
          })
        ).postIntegrationMessage;
        if (result.__typename !== 'IntegrationMessagePosted') throw stepErrorOf(result);
        output = { action: 'postMessage', integrationId: id, ...withoutTypename(result) };
      } else if (config.action === 'sendToHook') {
        const id = await integrationIdOf(config.integrationId, context);
        const payload = await evaluateTemplate(config.payload, context, 'payload');
        const result = (
          await call(WorkflowIntegrationSendToHookDocument, { integrationId: id, payload, idempotencyKey: context.idempotencyKey })
        ).sendIntegrationHook;
        if (result.__typename !== 'IntegrationHookDelivered') throw stepErrorOf(result);
        output = { action: 'sendToHook', integrationId: id, ...withoutTypename(result) };
      } else {
        const input = await contactInput(config, context);
        const saved = (await call(WorkflowIntegrationSaveCrmContactDocument, { input, idempotencyKey: context.idempotencyKey }))
          .saveCrmContact;
        output = { action: 'upsertCrmRecord', contactId: saved.id };
      }
      return { kind: 'completed', output };
    },
  };
}

type Failure =
  | ({ __typename: 'IntegrationActionFailed' } & Omit<WorkflowIntegrationStepFailureFragment, ' $fragmentName'>)
  | { __typename: 'IntegrationNotFound'; message: string };

/**
 * The step's failure for the integrations service's answer: retryable exactly when the provider's failure is (a rate
 * limit, an outage); an integration the tenant does not have, or no longer has, fails the step for good.
 */
export function stepErrorOf(failure: Failure): StepError {
  if (failure.__typename === 'IntegrationNotFound') {
    return new StepError(`the integration is not connected: ${failure.message}`, false, { reason: 'NOT_FOUND' });
  }
  const details = {
    reason: failure.reason,
    ...(failure.providerError === null ? {} : { providerError: failure.providerError }),
    ...(failure.retryAfterSeconds === null ? {} : { retryAfterSeconds: failure.retryAfterSeconds }),
  };
  const retryAfterMs = failure.retryAfterSeconds === null ? undefined : failure.retryAfterSeconds * 1000;
  return new StepError(failure.message, failure.retryable, details, retryAfterMs);
}

/** The record's fields rendered; a field that renders to nothing is cleared, as `null`. */
async function contactInput(config: Extract<IntegrationStepConfig, { action: 'upsertCrmRecord' }>, context: StepContext) {
  const { custom, ...fields } = config.record;
  const text = async (template: string, field: string) => {
    const rendered = (await evaluateTemplateText(template, context, `record.${field}`)).trim();
    return rendered === '' ? null : rendered;
  };
  const input: Record<string, unknown> = Object.fromEntries(
    await Promise.all(Object.entries(fields).map(async ([field, template]) => [field, await text(template, field)] as const)),
  );
  if (custom !== undefined) input.custom = await evaluateTemplate(custom, context, 'record.custom');
  if (config.contactId !== undefined) {
    const id = (await evaluateTemplateText(config.contactId, context, 'contactId')).trim();
    if (!isUuid(id))
      throw new StepError(`contactId rendered to ${JSON.stringify(id)}, which is not a contact id`, false, { contactId: id });
    input.id = id;
  }
  return input;
}

function withoutTypename<T extends { __typename: string }>({ __typename, ...rest }: T): Omit<T, '__typename'> {
  return rest;
}

async function integrationIdOf(template: string, context: StepContext): Promise<string> {
  const id = (await evaluateTemplateText(template, context, 'integrationId')).trim();
  if (!isUuid(id))
    throw new StepError(`integrationId rendered to ${JSON.stringify(id)}, which is not an integration id`, false, { integrationId: id });
  return id;
}
