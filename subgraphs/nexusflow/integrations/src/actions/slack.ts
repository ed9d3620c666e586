import { ErrorCode, LogLevel, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from '@nexusflow/kit';
import { endpointOn, type ProviderSettings } from '../domain/providers.ts';
import { ProviderActionError, TokenRejected, unreachable } from './provider-failure.ts';
import type { PostedMessage } from './types.ts';

/** Slack's words for a token it no longer takes: refreshing may help (a rotated token expired), once. */
const TOKEN_ERRORS = new Set(['invalid_auth', 'not_authed', 'token_expired', 'token_revoked', 'account_inactive']);
/** Slack's words for its own trouble, which passes. */
const TRANSIENT_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited']);

/**
 * Posts through Slack's official Web API client, which reads Slack's answers (HTTP 200 with `ok: false` and an
 * `error` for failures, 429 with Retry-After) into typed errors. Its own retries are off: the caller (a workflow step's
 * retry policy, a person) decides when to try again, and a rate limit is reported with Slack's Retry-After.
 */
export class SlackMessaging {
  constructor(
    private readonly settings: ProviderSettings,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  async postMessage(accessToken: string, channel: string, text: string): Promise<PostedMessage> {
    const client = new WebClient(accessToken, {
      slackApiUrl: endpointOn(this.settings, 'https://slack.com/api/').href,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: this.timeoutMs,
      logger: slackLogger(this.logger),
    });
    try {
      const posted = await client.chat.postMessage({ channel, text });
      return { channel: posted.channel ?? channel, messageId: posted.ts ?? '' };
    } catch (error) {
      throw slackFailure(error);
    }
  }
}

function slackFailure(error: unknown): ProviderActionError | TokenRejected {
  const coded = error as { code?: unknown; data?: { error?: string }; retryAfter?: number; statusCode?: number };
  switch (coded.code) {
    case ErrorCode.PlatformError: {
      const slackError = coded.data?.error ?? 'unknown_error';
      if (TOKEN_ERRORS.has(slackError)) return new TokenRejected(slackError, `Slack: ${slackError}`);
      if (TRANSIENT_ERRORS.has(slackError))
        return new ProviderActionError('UNAVAILABLE', `Slack could not answer: ${slackError}`, true, slackError);
      return new ProviderActionError('REFUSED', `Slack refused the message: ${slackError}`, false, slackError);
    }
    case ErrorCode.RateLimitedError:
      return new ProviderActionError('RATE_LIMITED', 'Slack is rate limiting requests', true, 'ratelimited', coded.retryAfter ?? null);
    case ErrorCode.HTTPError: {
      const status = coded.statusCode ?? 0;
      if (status === 401) return new TokenRejected(String(status), 'Slack: HTTP 401');
      if (status >= 500) return new ProviderActionError('UNAVAILABLE', `Slack could not answer: HTTP ${status}`, true, String(status));
      return new ProviderActionError('REFUSED', `Slack refused the message: HTTP ${status}`, false, String(status));
    }
    default:
      return unreachable('Slack', error);
  }
}

/** The client's log lines into ours, below warnings as debug: its warnings are about its API's deprecations. */
function slackLogger(logger: Logger): SlackLogger {
  const write =
    (level: 'debug' | 'warn') =>
    (...messages: unknown[]) =>
      logger[level]({ client: 'slack' }, messages.map(String).join(' '));
  return {
    debug: write('debug'),
    info: write('debug'),
    warn: write('warn'),
    error: write('warn'),
    setLevel: () => undefined,
    getLevel: () => LogLevel.DEBUG,
    setName: () => undefined,
  };
}
