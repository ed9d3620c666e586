import { createHash } from 'node:crypto';
import {
  ANONYMOUS,
  callSubgraph,
  clientError,
  ErrorCode,
  pageSize,
  parseInput,
  requireUser,
  Role,
  SubgraphRequestError,
  systemFork,
  type EntityManager,
  type Forkable,
  type Identity,
  type Logger,
  type RateLimiter,
  type TypedDocumentNode,
} from '@nexusflow/kit';
import { z } from 'zod';
import {
  CreateSessionDocument,
  ReinstateRefreshTokenDocument,
  RevokeSessionDocument,
  RotateRefreshTokenDocument,
  type RotateRefreshTokenMutation,
} from '../__generated__/session-mgr-operations.ts';

type RotatedRefresh = RotateRefreshTokenMutation['rotateRefreshToken'];
import { IssueAccessTokenDocument } from '../__generated__/token-mgr-operations.ts';
import { CheckCredentialsDocument, SignInStandingDocument } from '../__generated__/user-auth-operations.ts';
import { SignIn } from '../entities/sign-in.entity.ts';

const MAX_LISTED = 100;

const loginSchema = z.object({
  email: z.string().trim().toLowerCase().min(1, 'must not be empty').max(254, 'must be at most 254 characters'),
  password: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

type User = Extract<Identity, { kind: 'user' }>;

/** A user of user-auth, as auth-service returns it: the id, and what a sign-in provides of it. */
export interface UserReference {
  id: string;
  email?: string;
  name?: string;
  role?: Role;
}

export interface SignedIn {
  __typename: 'SignedIn';
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  sessionId: string;
  /** What the sign-in knows of the user: the fields `SignedIn.user` provides. */
  user: { id: string; email: string; name: string; role: Role };
}

export type LoginResult =
  | SignedIn
  | { __typename: 'IncorrectCredentials'; message: string }
  | { __typename: 'AccountDeactivated'; message: string }
  | { __typename: 'TooManyLoginAttempts'; retryAfterSeconds: number };

export type RefreshSessionResult =
  | SignedIn
  | { __typename: 'InvalidRefreshToken'; problem: 'UNKNOWN' | 'EXPIRED' | 'REVOKED' | 'REUSED' }
  | { __typename: 'AccountDeactivated'; message: string };

export interface SignInFlowOptions {
  urls: { userAuth: string; sessionMgr: string; tokenMgr: string };
  internalSecret: string;
  timeoutMs: number;
  limiter: RateLimiter;
  loginRateLimit: { perAccount: number; perAddress: number; periodMs: number };
  logger: Logger;
}

/** Where the caller came from, as backend-api signed it with the identity. */
export interface Client {
  clientAddress: string | undefined;
  userAgent: string | undefined;
}

/**
 * The primary sign-in flow, which owns no credentials, sessions or keys itself: user-auth checks the credentials,
 * session-mgr starts (and rotates) the session, token-mgr signs the access token for it. Each is called with the kit's
 * typed `callSubgraph`; one that cannot be reached makes the flow answer SERVICE_UNAVAILABLE.
 */
export class SignInFlow {
  constructor(private readonly options: SignInFlowOptions) {}

  async login(from: Forkable, input: unknown, client: Client): Promise<LoginResult> {
    const { email, password } = parseInput(loginSchema, input, ['input']);
    const limited = await this.consumeLoginAttempt(email, client.clientAddress);
    if (limited) return limited;

    const { checkCredentials } = await this.call(
      this.options.urls.userAuth,
      CheckCredentialsDocument,
      { input: { email, password } },
      ANONYMOUS,
    );
    if (checkCredentials.__typename === 'InvalidCredentials')
      return { __typename: 'IncorrectCredentials', message: 'The email or password is wrong' };
    if (checkCredentials.__typename === 'DeactivatedAccount')
      return { __typename: 'AccountDeactivated', message: checkCredentials.message };

    const user: User = {
      kind: 'user',
      userId: checkCredentials.userId,
      tenantId: checkCredentials.tenantId,
      roles: [checkCredentials.role as Role],
    };
    const { createSession } = await this.call(
      this.options.urls.sessionMgr,
      CreateSessionDocument,
      { input: { userAgent: client.userAgent ?? null, clientAddress: client.clientAddress ?? null } },
      user,
    );
    const profile = { id: user.userId, email: checkCredentials.email, name: checkCredentials.name, role: checkCredentials.role as Role };
    const signedIn = await this.signIn(
      user,
      profile,
      createSession.session.id,
      createSession.refreshToken,
      createSession.refreshTokenExpiresAt,
    );
    const em = systemFork(from);
    em.create(SignIn, {
      tenantId: user.tenantId,
      userId: user.userId,
      sessionId: createSession.session.id,
      clientAddress: client.clientAddress ?? null,
      userAgent: client.userAgent ?? null,
    });
    await em.flush();
    return signedIn;
  }

  /**
   * Exchanges a refresh token for new tokens. Session-mgr spends the presented token first; should anything after that
   * fail (a dependency down or slow), that rotation is undone before the caller is told to try again, since the token
   * it holds would otherwise be spent, and presenting it again would revoke the session as a replay.
   */
  async refresh(refreshToken: string): Promise<RefreshSessionResult> {
    const { rotateRefreshToken: rotated } = await this.call(
      this.options.urls.sessionMgr,
      RotateRefreshTokenDocument,
      { refreshToken },
      ANONYMOUS,
    );
    if (rotated.__typename === 'RejectedRefreshToken') return { __typename: 'InvalidRefreshToken', problem: rotated.reason };
    try {
      return await this.completeRefresh(rotated);
    } catch (error) {
      await this.reinstate(refreshToken, rotated.refreshToken);
      throw error;
    }
  }

  private async completeRefresh(rotated: Extract<RotatedRefresh, { __typename: 'RotatedRefreshToken' }>): Promise<RefreshSessionResult> {
    const sessionId = rotated.session.id;
    const holder: User = {
      kind: 'user',
      userId: rotated.session.userId,
      tenantId: rotated.tenantId,
      roles: rotated.roles as Role[],
      sessionId,
    };
    // The user as they stand now: deactivated since, their session ends; their role may have changed.
    const { signInStanding: standing } = await this.call(this.options.urls.userAuth, SignInStandingDocument, {}, holder);
    if (standing.__typename !== 'ValidCredentials') {
      await this.call(this.options.urls.sessionMgr, RevokeSessionDocument, { id: sessionId }, holder);
      return standing.__typename === 'DeactivatedAccount'
        ? { __typename: 'AccountDeactivated', message: standing.message }
        : { __typename: 'InvalidRefreshToken', problem: 'REVOKED' };
    }
    const user: User = { kind: 'user', userId: standing.userId, tenantId: standing.tenantId, roles: [standing.role as Role] };
    const profile = { id: standing.userId, email: standing.email, name: standing.name, role: standing.role as Role };
    return this.signIn(user, profile, sessionId, rotated.refreshToken, rotated.refreshTokenExpiresAt);
  }

  /** Best effort: session-mgr refuses when there is nothing to undo, and when it cannot be reached the client's retry is a replay. */
  private async reinstate(refreshToken: string, issuedRefreshToken: string): Promise<void> {
    try {
      const { reinstateRefreshToken: reinstated } = await this.call(
        this.options.urls.sessionMgr,
        ReinstateRefreshTokenDocument,
        { refreshToken, issuedRefreshToken },
        ANONYMOUS,
      );
      if (reinstated) this.options.logger.info('a refresh failed after its rotation; the presented refresh token is current again');
    } catch (error) {
      this.options.logger.warn({ err: error }, 'a refresh failed after its rotation, which could not be undone');
    }
  }

  /** Revokes the caller's session at session-mgr, which has token-mgr refuse its access tokens, this one included. */
  async logout(identity: Identity): Promise<{ sessionId: string | null }> {
    const user = requireUser(identity);
    if (!user.sessionId) return { sessionId: null };
    await this.call(this.options.urls.sessionMgr, RevokeSessionDocument, { id: user.sessionId }, user);
    return { sessionId: user.sessionId };
  }

  async mySignIns(em: EntityManager, identity: Identity, first: number): Promise<SignIn[]> {
    const user = requireUser(identity);
    const limit = pageSize(first, MAX_LISTED);
    if (limit === 0) return [];
    return em.find(SignIn, { userId: user.userId }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  private async signIn(
    user: User,
    profile: SignedIn['user'],
    sessionId: string,
    refreshToken: string,
    refreshTokenExpiresAt: string,
  ): Promise<SignedIn> {
    const { issueAccessToken } = await this.call(
      this.options.urls.tokenMgr,
      IssueAccessTokenDocument,
      { input: { userId: user.userId, tenantId: user.tenantId, roles: user.roles, sessionId } },
      user,
    );
    return {
      __typename: 'SignedIn',
      accessToken: issueAccessToken.token,
      accessTokenExpiresAt: new Date(issueAccessToken.expiresAt),
      refreshToken,
      refreshTokenExpiresAt: new Date(refreshTokenExpiresAt),
      sessionId,
      user: profile,
    };
  }

  /** Every attempt counts, per account and per address: a refusal names when to try again. */
  private async consumeLoginAttempt(email: string, clientAddress: string | undefined): Promise<LoginResult | undefined> {
    const { perAccount, perAddress, periodMs } = this.options.loginRateLimit;
    const account = createHash('sha256').update(email).digest('base64url');
    const decision = await this.options.limiter.consume([
      { key: `login:account:${account}`, limit: perAccount, periodMs },
      ...(clientAddress ? [{ key: `login:address:${clientAddress}`, limit: perAddress, periodMs }] : []),
    ]);
    if (decision.allowed) return undefined;
    return { __typename: 'TooManyLoginAttempts', retryAfterSeconds: decision.retryAfterSeconds };
  }

  private async call<TResult, TVariables>(
    url: string,
    query: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
    identity: Identity,
  ): Promise<TResult> {
    try {
      return await callSubgraph({
        url,
        query,
        variables,
        identity,
        internalSecret: this.options.internalSecret,
        timeoutMs: this.options.timeoutMs,
      });
    } catch (error) {
      if (!(error instanceof SubgraphRequestError)) throw error;
      if (error.code === ErrorCode.ServiceUnavailable || error.retryable) {
        this.options.logger.warn({ code: error.code, status: error.status }, 'a sign-in dependency could not answer');
        throw clientError(ErrorCode.ServiceUnavailable, 'Signing in is unavailable right now; try again shortly');
      }
      throw error;
    }
  }
}
