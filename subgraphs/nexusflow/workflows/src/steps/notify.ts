import { isUuid } from '@nexusflow/kit';
import { z } from 'zod';
import { WorkflowNotifyStepDocument } from '../__generated__/notifications-operations.ts';
import { evaluateTemplate, evaluateTemplateText } from './template.ts';
import { callStepService, ownerAsMember } from './service-call.ts';
import { cancelled, StepError, type StepContext, type StepExecutor } from './types.ts';

export interface NotifyStepOptions {
  /** The notifications subgraph's GraphQL endpoint. */
  notificationsUrl: string;
  /** Signs the identity the step sends with, as the gateway signs its own. */
  internalSecret: string;
}

/** The width of the notifications service's event type column. */
const MAX_EVENT_TYPE_LENGTH = 255;
const TEMPLATE = /\{\{[^{}]*\}\}/;

export const notifyStepConfig = z
  .object({
    /** Chooses the tenant's wording and the user's channels, e.g. `invoice.overdue`. */
    eventType: z
      .string()
      .refine((eventType) => eventType.trim() !== '', 'must not be empty')
      .refine((eventType) => eventType.length <= MAX_EVENT_TYPE_LENGTH, `must have at most ${MAX_EVENT_TYPE_LENGTH} characters`),
    /** Templated, e.g. `{{input.assigneeId}}`. @default the execution's owner */
    userId: z
      .string()
      .refine((userId) => TEMPLATE.test(userId) || isUuid(userId.trim()), 'is neither a user id nor a {{…}} template')
      .optional(),
    /** Values for the wording's placeholders (`title` and `body` fill the generic wording); strings are templated. */
    variables: z.record(z.string(), z.unknown()).optional(),
  })
  // A misspelt `userId` would otherwise be dropped without a word, and the owner notified instead of the intended user.
  .strict();

export type NotifyStepConfig = z.output<typeof notifyStepConfig>;

export interface NotifyStepOutput {
  notificationId: string;
  userId: string;
  title: string;
  body: string;
  /** The channels beyond the app (EMAIL, SMS, PUSH) it goes out through, as the user's preferences and contact points allow. */
  channels: string[];
}

/**
 * Notifies a user of the execution's tenant through the notifications service, acting for the execution's owner.
 * The request carries the step's idempotency key, so a retried attempt returns the notification the first one created
 * instead of notifying twice.
 */
export function notifyStep(options: NotifyStepOptions): StepExecutor<NotifyStepConfig> {
  return {
    type: 'notify',
    description: 'Notifies a user (by default the workflow’s owner) in the app and through the channels they chose.',
    config: notifyStepConfig,
    async execute(config, context) {
      const { signal } = context;
      if (signal.aborted) throw cancelled();
      const sender = ownerAsMember(context, 'send the notification for');
      const userId = await recipientOf(config, context, sender.userId);
      const input = {
        userId,
        eventType: config.eventType,
        variables: await evaluateTemplate(config.variables ?? {}, context, 'variables'),
        idempotencyKey: context.idempotencyKey,
      };
      const { sendNotification: sent } = await callStepService(
        {
          url: options.notificationsUrl,
          internalSecret: options.internalSecret,
          unavailable: 'the notifications service could not take the notification',
          refused: 'the notifications service refused the notification',
        },
        context,
        sender,
        WorkflowNotifyStepDocument,
        { input },
      );
      const output: NotifyStepOutput = {
        notificationId: sent.id,
        userId,
        title: sent.title,
        body: sent.body,
        channels: sent.deliveries.map((delivery) => delivery.channel),
      };
      return { kind: 'completed', output };
    },
  };
}

async function recipientOf(config: NotifyStepConfig, context: StepContext, ownerId: string): Promise<string> {
  if (config.userId === undefined) return ownerId;
  const userId = (await evaluateTemplateText(config.userId, context, 'userId')).trim();
  if (!isUuid(userId)) throw new StepError(`userId rendered to ${JSON.stringify(userId)}, which is not a user id`, false, { userId });
  return userId;
}
