import { describe, expect, it } from 'vitest';
import { builtInWording, renderText, workflowFailedVariables } from './templates.ts';

const failedEvent = {
  tenantId: '0b7e6a52-2f0c-4c59-9a53-1d2c8f1e4a10',
  ownerId: '5d1f2c3b-8e4a-4f6b-9c7d-2a1b0e9f8c76',
  executionId: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
  workflowId: '1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d',
  workflowName: 'Nightly invoice sync',
  stepKey: 'charge',
  error: 'POST https://api.example.com/v1/charges responded with status 402: {"error":"card_declined"}',
};

function wordingOf(payload: Record<string, unknown>) {
  const { subject, body } = builtInWording('workflow.execution.failed');
  const variables = workflowFailedVariables(payload);
  return { subject: renderText(subject, variables), body: renderText(body, variables) };
}

describe("a failed run's notification", () => {
  it('names the workflow by its name, with the step, the error and the execution', () => {
    expect(wordingOf(failedEvent)).toEqual({
      subject: 'Workflow "Nightly invoice sync" failed',
      body: `Workflow "Nightly invoice sync" failed at step charge: ${failedEvent.error} (execution ${failedEvent.executionId})`,
    });
  });

  it('names the workflow by its id when the event predates names in events', () => {
    const { workflowName: _absent, ...olderEvent } = failedEvent;
    expect(wordingOf(olderEvent)).toEqual({
      subject: `Workflow "${failedEvent.workflowId}" failed`,
      body: `Workflow "${failedEvent.workflowId}" failed at step charge: ${failedEvent.error} (execution ${failedEvent.executionId})`,
    });
  });

  it("gives tenants' templates the workflow's name, id, execution, step and error", () => {
    const template = '{{workflowName}} ({{workflowId}}) stopped at {{stepKey}} in {{executionId}}: {{error}}';
    expect(renderText(template, workflowFailedVariables(failedEvent))).toBe(
      `Nightly invoice sync (${failedEvent.workflowId}) stopped at charge in ${failedEvent.executionId}: ${failedEvent.error}`,
    );
  });

  it('ignores values of the wrong type rather than writing them into the wording', () => {
    expect(workflowFailedVariables({ ...failedEvent, workflowName: { toString: 'x' }, stepKey: 42 })).toMatchObject({
      workflowName: failedEvent.workflowId,
      stepKey: undefined,
    });
  });
});
