/** A message a messaging provider took: where it went and the provider's id of it (Slack's `ts`, a Teams message id). */
export interface PostedMessage {
  channel: string;
  messageId: string;
}

/** A mail message as the API shows it, from Gmail or Outlook. */
export interface MailMessage {
  id: string;
  threadId: string | null;
  from: string | null;
  to: string[];
  subject: string | null;
  snippet: string | null;
  receivedAt: Date | null;
  /** The plain-text body: when one message is read, not in lists. */
  body: string | null;
}
