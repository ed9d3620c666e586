import { Role, signAccessToken } from '@nexusflow/kit';
import type { SignedUp } from './accounts.ts';
import type { Stack } from './stack.ts';

/** The tenant of an access token, read from its claims (the gateway has verified the token when a test uses it). */
export function tenantOf(account: SignedUp): string {
  const payload: unknown = JSON.parse(Buffer.from(account.token.split('.')[1]!, 'base64url').toString('utf8'));
  const tenantId = (payload as { tid?: unknown }).tid;
  if (typeof tenantId !== 'string') throw new Error('access token without a tenant');
  return tenantId;
}

/**
 * An access token for the same user and tenant holding only VIEWER, signed as the auth subgraph signs its tokens (the
 * gateway accepts any token of its signing key): quicker than inviting a viewer, for suites about another subgraph's
 * role checks. test/integration/teams.test.ts refuses a real, invited VIEWER every write.
 */
export function viewerToken(stack: Stack, account: SignedUp): Promise<string> {
  return tokenWithRole(stack, account, Role.Viewer);
}

/** As {@link viewerToken}, for any one role: a MEMBER's, say, for what only owners and admins may change. */
export async function tokenWithRole(stack: Stack, account: SignedUp, role: Role): Promise<string> {
  const { token } = await signAccessToken(
    { userId: account.userId, tenantId: tenantOf(account), roles: [role] },
    stack.authConfig.jwtSecret,
    900,
  );
  return token;
}
