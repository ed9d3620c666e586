/** Replaces `{{name}}` and `{{a.b}}` with values; unknown names render empty. Values are never evaluated. */
export function renderText(template: string, variables: Record<string, unknown>): string {
  return template.replace(/\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g, (_match, path: string) => {
    let value: unknown = variables;
    for (const segment of path.split('.')) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, segment)) return '';
      value = (value as Record<string, unknown>)[segment];
    }
    if (value === null || value === undefined) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  });
}

export interface Wording {
  subject: string;
  body: string;
}

/** What a notification says when the tenant has no template of its own for the event type. */
const BUILT_IN: Record<string, Wording> = {
  'workflow.execution.failed': {
    subject: 'A workflow run failed',
    body: 'Workflow {{workflowId}} failed at step {{stepKey}}: {{error}} (execution {{executionId}})',
  },
};

const GENERIC: Wording = { subject: '{{title}}', body: '{{body}}' };

export function builtInWording(eventType: string): Wording {
  return BUILT_IN[eventType] ?? GENERIC;
}
