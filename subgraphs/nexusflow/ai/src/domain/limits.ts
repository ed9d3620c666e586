import { clientError, ErrorCode, InMemoryRateLimiter, RedisRateLimiter, type Logger, type RateLimiter } from '@nexusflow/kit';
import { getEncoding, type Tiktoken } from 'js-tiktoken';
import type { ChatMessage } from './providers.ts';

/** What OpenAI's chat format adds per message (role and separators) and once to prime the reply. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PRIMING_REPLY = 3;

/** Building the tokenizer's tables takes most of a second: once per process, on first use, not at every start. */
let sharedEncoding: Tiktoken | undefined;
const encoding = () => (sharedEncoding ??= getEncoding('o200k_base'));

/**
 * Counts with o200k_base, the tokenizer of OpenAI's current models. Other providers' tokenizers differ by a few per cent;
 * the limit is a budget a tenant can plan with, and one tokenizer keeps it the same whichever model answers.
 */
export class TokenCounter {
  count(text: string): number {
    return encoding().encode(text).length;
  }

  countMessages(messages: readonly ChatMessage[]): number {
    return messages.reduce((sum, message) => sum + TOKENS_PER_MESSAGE + this.count(message.content), TOKENS_PRIMING_REPLY);
  }
}

/** Requests per window (a minute by default) per tenant, shared by every instance through Redis when REDIS_URL is set. */
export class TenantRequestLimit {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly requests: number,
    private readonly windowSeconds: number,
  ) {}

  static create(options: {
    redisUrl: string | undefined;
    namespace: string;
    logger: Logger;
    now: () => number;
    requests: number;
    windowSeconds: number;
  }) {
    const limiter = options.redisUrl
      ? new RedisRateLimiter(options.redisUrl, options.logger, { prefix: `${options.namespace}:ai:ratelimit:` })
      : new InMemoryRateLimiter({ now: options.now });
    return new TenantRequestLimit(limiter, options.requests, options.windowSeconds);
  }

  /** Spends one request of the tenant's budget, or refuses with RATE_LIMITED and the seconds to wait. */
  async admit(tenantId: string): Promise<void> {
    const decision = await this.limiter.consume([{ key: `tenant:${tenantId}`, limit: this.requests, periodMs: this.windowSeconds * 1000 }]);
    if (decision.allowed) return;
    const seconds = decision.retryAfterSeconds;
    const window = this.windowSeconds === 60 ? 'a minute' : `every ${this.windowSeconds} seconds`;
    throw clientError(
      ErrorCode.RateLimited,
      `Too many AI requests for this tenant (at most ${this.requests} ${window}); try again in ${seconds} second${seconds === 1 ? '' : 's'}`,
      { retryAfterSeconds: seconds },
    );
  }

  close(): Promise<void> {
    return this.limiter.close();
  }
}
