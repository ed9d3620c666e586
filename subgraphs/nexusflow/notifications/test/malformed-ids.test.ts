import { describeMalformedIds, MALFORMED_ID } from '@nexusflow/kit/testing';
import { subgraph as notifications } from '../src/subgraph.ts';

describeMalformedIds('notifications', {
  start: (env) => notifications.start(env),
  // No auth subgraph listens there: a recipient that reached it would be answered SERVICE_UNAVAILABLE.
  env: { RUN_WORKER: 'false', AUTH_URL: 'http://127.0.0.1:9/graphql' },
  cases: [
    {
      operation: 'markNotificationRead(id)',
      query: 'mutation ($id: ID!) { markNotificationRead(id: $id) { id } }',
      variables: { id: MALFORMED_ID },
      field: 'id',
    },
    {
      operation: 'sendNotification(input: { userId })',
      query: 'mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { id } }',
      variables: { input: { userId: MALFORMED_ID, eventType: 'release.published' } },
      field: 'userId',
    },
  ],
  entities: { Notification: 'id title', User: 'unreadNotificationCount notifications { id }' },
});
