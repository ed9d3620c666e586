import { booleanFlagSchema, loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';
import { serviceDefaults } from '@nexusflow/topology';
import { z } from 'zod';

const notificationsEnvSchema = z.object({
  ...subgraphEnv(serviceDefaults('nexusflow', 'notifications')),
  RUN_WORKER: booleanFlagSchema.default(true),
  DELIVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  DELIVERY_BACKOFF_MS: z.coerce.number().int().min(1).default(1000),
  SENDGRID_API_URL: z.url().default('https://api.sendgrid.com'),
  SENDGRID_API_KEY: z.string().optional(),
  SENDGRID_FROM: z.email().default('notifications@nexusflow.io'),
  TWILIO_API_URL: z.url().default('https://api.twilio.com'),
  TWILIO_ACCOUNT_SID: z.string().optional(),
  TWILIO_AUTH_TOKEN: z.string().optional(),
  TWILIO_FROM: z.string().optional(),
  FCM_API_URL: z.url().default('https://fcm.googleapis.com'),
  FCM_PROJECT_ID: z.string().optional(),
  FCM_ACCESS_TOKEN: z.string().optional(),
});

/** A channel is on when its provider's credentials are set; otherwise its deliveries are not created. */
export function loadNotificationsConfig(env?: Environment) {
  return loadSubgraphConfig('notifications', notificationsEnvSchema, env, (parsed) => ({
    runWorker: parsed.RUN_WORKER,
    /** The auth subgraph, asked whether a recipient is a user of the sender's tenant. */
    authUrl: parsed.AUTH_URL,
    maxAttempts: parsed.DELIVERY_MAX_ATTEMPTS,
    initialBackoffMs: parsed.DELIVERY_BACKOFF_MS,
    providers: {
      ...(parsed.SENDGRID_API_KEY
        ? { sendgrid: { baseUrl: parsed.SENDGRID_API_URL, apiKey: parsed.SENDGRID_API_KEY, from: parsed.SENDGRID_FROM } }
        : {}),
      ...(parsed.TWILIO_ACCOUNT_SID && parsed.TWILIO_AUTH_TOKEN && parsed.TWILIO_FROM
        ? {
            twilio: {
              baseUrl: parsed.TWILIO_API_URL,
              accountSid: parsed.TWILIO_ACCOUNT_SID,
              authToken: parsed.TWILIO_AUTH_TOKEN,
              from: parsed.TWILIO_FROM,
            },
          }
        : {}),
      ...(parsed.FCM_PROJECT_ID && parsed.FCM_ACCESS_TOKEN
        ? { fcm: { baseUrl: parsed.FCM_API_URL, projectId: parsed.FCM_PROJECT_ID, accessToken: parsed.FCM_ACCESS_TOKEN } }
        : {}),
    },
  }));
}

export type NotificationsConfig = ReturnType<typeof loadNotificationsConfig>;
