import type { Logger } from '@nexusflow/kit';

/** An email verification link to send. */
export interface VerificationEmail {
  to: string;
  link: string;
  expiresAt: Date;
}

/** How verification links reach users: Nexus COS has no email service yet, so the one sender logs them. */
export interface VerificationMailer {
  send(email: VerificationEmail): Promise<void>;
}

/**
 * The development default: logs the link at info level, for whoever runs the service to follow. In production the
 * link, which is as good as the user's proof of address, is not logged; only that none was delivered.
 */
export class LoggedVerificationMailer implements VerificationMailer {
  constructor(
    private readonly logger: Logger,
    private readonly production: boolean,
  ) {}

  async send(email: VerificationEmail): Promise<void> {
    if (this.production) {
      this.logger.warn('no email delivery is configured: a verification link was not sent');
      return;
    }
    this.logger.info({ to: email.to, link: email.link, expiresAt: email.expiresAt.toISOString() }, 'email verification link');
  }
}
