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
  // Billing's dunning: sent to the tenant's billing contact when a payment of its plan fails.
  'billing.payment.past_due': {
    subject: 'Your NexusFlow payment failed',
    body:
      'The payment for your {{plan}} plan failed. Please update your payment method before {{graceEndsAt}}; after that the ' +
      "free plan's limits apply until it is paid. Invoice: {{invoiceUrl}}",
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

/**
 * The wording of emails other services send to an address through `deliverTransactionalEmail` (verification, password
 * reset, team invitations): account mail, which no tenant's template overrides. The auth service fills `link` and
 * `expiresInHours`, and `name` (verification, reset) or `inviterName`, `tenantName` and `role` (invitations).
 */
const TRANSACTIONAL_EMAILS: Record<string, Wording> = {
  'auth.verify-email': {
    subject: 'Confirm your email address for NexusFlow',
    body:
      'Hello {{name}},\n\nplease confirm that this is your email address by opening this link within {{expiresInHours}} hours:\n\n' +
      '{{link}}\n\nIf you did not create a NexusFlow account, you can ignore this email.',
  },
  'auth.reset-password': {
    subject: 'Reset your NexusFlow password',
    body:
      'Hello {{name}},\n\nsomeone asked to reset the password of your NexusFlow account. To choose a new one, open this link ' +
      'within {{expiresInHours}} hour(s):\n\n{{link}}\n\nThe link works once. If you did not ask for it, ignore this email: ' +
      'your password stays as it is.',
  },
  'auth.member-invitation': {
    subject: '{{inviterName}} invited you to {{tenantName}} on NexusFlow',
    body:
      'Hello,\n\n{{inviterName}} invited you to join {{tenantName}} on NexusFlow as {{role}}. To accept, open this link ' +
      'within {{expiresInHours}} hours:\n\n{{link}}\n\nThe link works once. If you did not expect this invitation, ignore this email.',
  },
};

/** The built-in wording of a transactional email, or undefined for a template key nobody defined. */
export function transactionalWording(template: string): Wording | undefined {
  return Object.hasOwn(TRANSACTIONAL_EMAILS, template) ? TRANSACTIONAL_EMAILS[template] : undefined;
}
