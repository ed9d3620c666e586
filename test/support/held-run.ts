import { postGraphQL } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, RunWorkflowDocument } from '@nexusflow/web-client';
import type { RecordingServer } from './recording-server.ts';

/**
 * Creates a two-step workflow whose first step calls `outside` at `path`, which holds the call, runs it, and
 * resolves with the execution's id once the call arrived: the run then waits, RUNNING, until the test
 * releases `path`, so that subscribers can join before anything else happens.
 */
export async function startHeldRun(options: { graphqlUrl: string; token: string; outside: RecordingServer; path: string; name: string }): Promise<string> {
  const { graphqlUrl, token, outside, path } = options;
  outside.hold(path);
  const created = (
    await postGraphQL(graphqlUrl, CreateWorkflowDocument, {
      token,
      variables: {
        input: {
          name: options.name,
          steps: [
            { key: 'wait', type: 'http', config: { url: `${outside.url}${path}` } },
            { key: 'done', type: 'transform', config: { template: { ok: true } } },
          ],
        },
      },
    })
  ).data?.createWorkflow;
  if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
  const run = (await postGraphQL(graphqlUrl, RunWorkflowDocument, { token, variables: { id: created.id } })).data?.runWorkflow;
  if (run?.__typename !== 'Execution') throw new Error('runWorkflow failed');
  await outside.arrival(path);
  return run.id;
}
