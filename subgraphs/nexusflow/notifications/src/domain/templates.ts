/** Replaces `{{name}}` and `{{a.b}}` with values; unknown names render empty. Values are never evaluated. */
export function renderText(template: string, variables: Record<string, unknown>): string {
  return template.replace(/\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g, (_match, path: string) => {
    let value: unknown = variables;
    for (const segment of path.split('.')) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, segment)) return '';
      value = (value as Record<string, unknown>)[segment];
    }
    if (value === null || value === undefined) return '';
    // Variables are JSON: numbers and booleans print the same as JSON as they do as text.
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

export interface Wording {
  subject: string;
  body: string;
}

/** What a notification says when the tenant has no template of its own for the event type. */
const BUILT_IN: Record<string, Wording> = {
  'workflow.execution.failed': {
    subject: 'Workflow "{{workflowName}}" failed',
    body: 'Workflow "{{workflowName}}" failed at step {{stepKey}}: {{error}} (execution {{executionId}})',
  },
};

/**
 * The variables a `workflow.execution.failed` event gives its notification's wording, built-in or the tenant's:
 * `workflowName`, `workflowId`, `executionId`, `stepKey` and `error`. Events the workflows service recorded before it
 * sent the name (still queued while a deploy rolls out) have the workflow's id as `workflowName`, so that the wording
 * still identifies the workflow.
 */
export function workflowFailedVariables(payload: Record<string, unknown>): Record<string, string | undefined> {
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
  const workflowId = text(payload.workflowId);
  return {
    workflowName: text(payload.workflowName) ?? workflowId,
    workflowId,
    executionId: text(payload.executionId),
    stepKey: text(payload.stepKey),
    error: text(payload.error),
  };
}

const GENERIC: Wording = { subject: '{{title}}', body: '{{body}}' };

export function builtInWording(eventType: string): Wording {
  return BUILT_IN[eventType] ?? GENERIC;
}
