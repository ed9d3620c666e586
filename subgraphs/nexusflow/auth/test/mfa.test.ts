import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxEvent, Role, systemFork, type Identity } from '@nexusflow/kit';
import { storageModes } from '@nexusflow/kit/testing';
import { Membership } from '../src/entities/membership.entity.ts';
import { Tenant } from '../src/entities/tenant.entity.ts';
import { startAuthUnderTest, type AuthUnderTest } from './support/auth-under-test.ts';

const PASSWORD = 'correct horse battery';
const SESSION = '... on AuthSession { accessToken user { id mfaEnabled tenant { id } } }';
const PROBLEM = '... on UserError { message }';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { __typename ${SESSION} } }`;
const LOGIN = `mutation ($input: LoginInput!) {
  login(input: $input) { __typename ${SESSION} ... on MfaRequired { challengeToken expiresAt } ${PROBLEM} }
}`;
const COMPLETE = `mutation ($challengeToken: String!, $code: String!) {
  completeMfaSignIn(challengeToken: $challengeToken, code: $code) { __typename ${SESSION} ${PROBLEM} }
}`;
const BEGIN = `mutation { beginMfaEnrollment { __typename ... on MfaEnrollment { otpauthUri qrCodeDataUrl manualEntryKey } ${PROBLEM} } }`;
const CONFIRM = `mutation ($code: String!) { confirmMfaEnrollment(code: $code) { __typename ... on MfaRecoveryCodes { codes } ${PROBLEM} } }`;
const DISABLE = `mutation ($code: String!) { disableMfa(code: $code) { __typename ... on MfaDisabled { disabledAt } ${PROBLEM} } }`;
const REGENERATE = `mutation ($code: String!) {
  regenerateRecoveryCodes(code: $code) { __typename ... on MfaRecoveryCodes { codes } ${PROBLEM} }
}`;
const ME = `{ me { id mfaEnabled } }`;

const WRONG_CODE = '000000';
const PERIOD_MS = 30_000;

type Person = Extract<Identity, { kind: 'user' }>;

/** A registered person, signed in, with what their authenticator app would hold once enrolled. */
interface Account {
  email: string;
  identity: Person;
  tenantId: string;
}

/**
 * Two-factor authentication in the auth subgraph, asked as the gateway would, on a clock the test moves: codes come
 * from the TOTP library itself at the test's time, so every period boundary is where the test puts it.
 */
describe('Two-factor authentication (TOTP) in the auth subgraph', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let auth: AuthUnderTest;
    let subgraph: AuthUnderTest['subgraph'];
    // At the start of a period, so that "the next period" is exactly PERIOD_MS away.
    const clock = { now: Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS };

    beforeAll(async () => {
      auth = await startAuthUnderTest(mode, 'mfa', {}, clock);
      ({ subgraph } = auth);
    });

    afterAll(async () => {
      await auth?.close();
    });

    const elapse = (milliseconds: number) => {
      clock.now += milliseconds;
    };

    const ask = (identity: Identity, query: string, variables: Record<string, unknown> = {}) => auth.ask(identity, query, variables);

    async function answer(identity: Identity, query: string, field: string, variables: Record<string, unknown> = {}) {
      return (await auth.answer(identity, query, variables))[field];
    }

    const identityOf = (accessToken: string): Promise<Person> => auth.identityOf(accessToken);

    async function register(): Promise<Account> {
      const email = `mfa-${randomUUID()}@example.com`;
      const input = { email, password: PASSWORD, name: 'Ada', tenantName: 'Acme' };
      const session = await answer({ kind: 'anonymous' }, REGISTER, 'register', { input });
      return { email, identity: await identityOf(session.accessToken), tenantId: session.user.tenant.id };
    }

    const codeAt = (secret: string, at = clock.now) => generate({ secret, epoch: Math.floor(at / 1000) });

    /** A person with MFA on: the secret their app holds and their recovery codes. The clock is in the next period. */
    async function enrolled(): Promise<Account & { secret: string; recoveryCodes: string[] }> {
      const account = await register();
      const enrollment = await answer(account.identity, BEGIN, 'beginMfaEnrollment');
      const confirmed = await answer(account.identity, CONFIRM, 'confirmMfaEnrollment', { code: await codeAt(enrollment.manualEntryKey) });
      expect(confirmed.__typename).toBe('MfaRecoveryCodes');
      elapse(PERIOD_MS);
      return { ...account, secret: enrollment.manualEntryKey, recoveryCodes: confirmed.codes };
    }

    const login = (email: string, tenantId?: string) =>
      answer({ kind: 'anonymous' }, LOGIN, 'login', { input: { email, password: PASSWORD, ...(tenantId ? { tenantId } : {}) } });

    /** Makes the person a member of a second tenant, as an accepted invitation would. */
    async function joinAnotherTenant(userId: string): Promise<string> {
      const em = systemFork(subgraph.database);
      const tenant = em.create(Tenant, { name: 'Globex', slug: `globex-${randomUUID()}` });
      em.create(Membership, { tenant, user: userId, role: Role.Member, lastActiveAt: null });
      await em.flush();
      return tenant.id;
    }

    async function challengeFor(email: string): Promise<string> {
      const first = await login(email);
      expect(first.__typename).toBe('MfaRequired');
      return first.challengeToken;
    }

    const complete = (challengeToken: string, code: string) =>
      answer({ kind: 'anonymous' }, COMPLETE, 'completeMfaSignIn', { challengeToken, code });

    const mfaEnabled = async (identity: Identity) => (await answer(identity, ME, 'me')).mfaEnabled as boolean;

    it('enrolls with an otpauth URI and QR code of a new secret, and turns MFA on with a right code, giving ten recovery codes', async () => {
      const { email, identity } = await register();
      const enrollment = await answer(identity, BEGIN, 'beginMfaEnrollment');

      expect(enrollment.__typename).toBe('MfaEnrollment');
      expect(enrollment.otpauthUri).toBe(
        `otpauth://totp/NexusFlow:${encodeURIComponent(email)}?secret=${enrollment.manualEntryKey}&issuer=NexusFlow`,
      );
      expect(enrollment.manualEntryKey).toMatch(/^[A-Z2-7]{32}$/);
      expect(enrollment.qrCodeDataUrl).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
      expect(await mfaEnabled(identity)).toBe(false);

      const confirmed = await answer(identity, CONFIRM, 'confirmMfaEnrollment', { code: await codeAt(enrollment.manualEntryKey) });

      expect(confirmed.__typename).toBe('MfaRecoveryCodes');
      expect(confirmed.codes).toHaveLength(10);
      expect(new Set(confirmed.codes).size).toBe(10);
      for (const code of confirmed.codes) expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
      expect(await mfaEnabled(identity)).toBe(true);
    });

    it('refuses a wrong code at confirmation and changes nothing: MFA stays off and login stays one step', async () => {
      const { email, identity } = await register();
      const enrollment = await answer(identity, BEGIN, 'beginMfaEnrollment');

      expect(await answer(identity, CONFIRM, 'confirmMfaEnrollment', { code: WRONG_CODE })).toEqual({
        __typename: 'InvalidMfaCode',
        message: 'The code is wrong, expired or already used',
      });
      expect(await mfaEnabled(identity)).toBe(false);
      expect((await login(email)).__typename).toBe('AuthSession');
      // The pending secret is still the one to confirm.
      expect((await answer(identity, CONFIRM, 'confirmMfaEnrollment', { code: await codeAt(enrollment.manualEntryKey) })).__typename).toBe(
        'MfaRecoveryCodes',
      );
    });

    it('makes login two-step: the password answers a challenge, and a right code completes a session whose access token works', async () => {
      const { email, secret, tenantId } = await enrolled();

      const first = await login(email);
      expect(first).toEqual({
        __typename: 'MfaRequired',
        challengeToken: expect.stringMatching(/^[\w-]{43}$/),
        expiresAt: new Date(clock.now + 300_000).toISOString(),
      });

      const session = await complete(first.challengeToken, await codeAt(secret));
      expect(session.__typename).toBe('AuthSession');
      expect(session.user).toMatchObject({ mfaEnabled: true, tenant: { id: tenantId } });
      const identity = await identityOf(session.accessToken);
      expect(identity.sessionId).toEqual(expect.any(String));
      expect(await answer(identity, ME, 'me')).toEqual({ id: session.user.id, mfaEnabled: true });
    });

    it('completes the sign-in in the tenant the password step chose', async () => {
      const { email, identity, secret, tenantId } = await enrolled();
      const other = await joinAnotherTenant(identity.userId);

      const session = await complete((await login(email, other)).challengeToken, await codeAt(secret));
      expect(session.user.tenant).toEqual({ id: other });
      expect((await identityOf(session.accessToken)).tenantId).toBe(other);
      expect(other).not.toBe(tenantId);
    });

    it('refuses a challenge once it expired, and once it completed a sign-in', async () => {
      const { email, secret } = await enrolled();
      const expiring = await challengeFor(email);
      elapse(300_000);
      expect((await complete(expiring, await codeAt(secret))).__typename).toBe('InvalidMfaChallenge');

      const used = await challengeFor(email);
      expect((await complete(used, await codeAt(secret))).__typename).toBe('AuthSession');
      elapse(PERIOD_MS);
      expect(await complete(used, await codeAt(secret))).toEqual({
        __typename: 'InvalidMfaChallenge',
        message: 'This sign-in has expired or was already completed; sign in again',
      });
    });

    it('accepts an authenticator code once: the same code replayed within its window is refused, the next period’s works', async () => {
      const { email, secret } = await enrolled();
      const code = await codeAt(secret);
      expect((await complete(await challengeFor(email), code)).__typename).toBe('AuthSession');

      const again = await challengeFor(email);
      expect((await complete(again, code)).__typename).toBe('InvalidMfaCode');
      // An earlier period's code is older than the one used: refused as well, though within the tolerance.
      expect((await complete(again, await codeAt(secret, clock.now - PERIOD_MS))).__typename).toBe('InvalidMfaCode');
      elapse(PERIOD_MS);
      expect((await complete(again, await codeAt(secret))).__typename).toBe('AuthSession');
    });

    it('accepts each recovery code once, typed in any case and spacing', async () => {
      const { email, recoveryCodes } = await enrolled();
      const [first, second] = recoveryCodes as [string, string];

      expect((await complete(await challengeFor(email), first)).__typename).toBe('AuthSession');
      expect((await complete(await challengeFor(email), first)).__typename).toBe('InvalidMfaCode');
      expect((await complete(await challengeFor(email), ` ${second.toUpperCase().replace('-', ' ')} `)).__typename).toBe('AuthSession');
    });

    it('limits wrong codes per person across challenges: after five, even a right code is RATE_LIMITED until the wait is over', async () => {
      const { email, secret } = await enrolled();
      const firstChallenge = await challengeFor(email);
      for (let attempt = 0; attempt < 3; attempt++) expect((await complete(firstChallenge, WRONG_CODE)).__typename).toBe('InvalidMfaCode');
      const secondChallenge = await challengeFor(email);
      for (let attempt = 0; attempt < 2; attempt++) expect((await complete(secondChallenge, WRONG_CODE)).__typename).toBe('InvalidMfaCode');

      const refused = await ask({ kind: 'anonymous' }, COMPLETE, { challengeToken: secondChallenge, code: await codeAt(secret) });
      expect(refused.data).toBeNull();
      expect(refused.errors).toEqual([
        expect.objectContaining({
          message: 'Too many wrong codes; try again in 1 second',
          extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 1 },
        }),
      ]);

      elapse(1000);
      expect((await complete(secondChallenge, await codeAt(secret))).__typename).toBe('AuthSession');
    });

    it('turns MFA off only with a code: a wrong one changes nothing, a right one makes login one step again', async () => {
      const { email, identity, secret } = await enrolled();
      expect(await answer(identity, DISABLE, 'disableMfa', { code: WRONG_CODE })).toMatchObject({ __typename: 'InvalidMfaCode' });
      expect(await mfaEnabled(identity)).toBe(true);

      expect(await answer(identity, DISABLE, 'disableMfa', { code: await codeAt(secret) })).toEqual({
        __typename: 'MfaDisabled',
        disabledAt: new Date(clock.now).toISOString(),
      });
      expect(await mfaEnabled(identity)).toBe(false);
      expect((await login(email)).__typename).toBe('AuthSession');
      expect(await answer(identity, DISABLE, 'disableMfa', { code: await codeAt(secret) })).toMatchObject({ __typename: 'MfaNotEnabled' });
    });

    it('turns MFA off with a recovery code when the authenticator is lost, and records both changes as events', async () => {
      const { identity, recoveryCodes } = await enrolled();
      expect((await answer(identity, DISABLE, 'disableMfa', { code: recoveryCodes[0] })).__typename).toBe('MfaDisabled');

      const events = await systemFork(subgraph.database).find(
        OutboxEvent,
        { type: { $like: 'user.mfa.%' } },
        { orderBy: { position: 'asc' } },
      );
      expect(events.filter((event) => event.payload.userId === identity.userId).map(({ type, tenantId }) => ({ type, tenantId }))).toEqual([
        { type: 'user.mfa.enabled', tenantId: identity.tenantId },
        { type: 'user.mfa.disabled', tenantId: identity.tenantId },
      ]);
    });

    it('replaces every recovery code on request, given a code: the old ones stop working', async () => {
      const { email, identity, secret, recoveryCodes } = await enrolled();
      expect(await answer(identity, REGENERATE, 'regenerateRecoveryCodes', { code: WRONG_CODE })).toMatchObject({
        __typename: 'InvalidMfaCode',
      });

      const regenerated = await answer(identity, REGENERATE, 'regenerateRecoveryCodes', { code: await codeAt(secret) });
      expect(regenerated.__typename).toBe('MfaRecoveryCodes');
      expect(regenerated.codes).toHaveLength(10);
      expect((await complete(await challengeFor(email), recoveryCodes[1]!)).__typename).toBe('InvalidMfaCode');
      expect((await complete(await challengeFor(email), regenerated.codes[0])).__typename).toBe('AuthSession');
    });

    it('keeps an enrollment to one authenticator: beginning again once MFA is on is refused', async () => {
      const { identity } = await enrolled();
      expect(await answer(identity, BEGIN, 'beginMfaEnrollment')).toMatchObject({ __typename: 'MfaAlreadyEnabled' });
      expect(await answer(identity, CONFIRM, 'confirmMfaEnrollment', { code: WRONG_CODE })).toMatchObject({ __typename: 'MfaNotPending' });
    });

    it('leaves MFA to people: API keys (no session) are FORBIDDEN and anonymous callers UNAUTHENTICATED', async () => {
      const { identity } = await register();
      const { sessionId: _session, ...apiKey } = identity;
      expect((await ask(apiKey, BEGIN)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await ask({ kind: 'anonymous' }, BEGIN)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });
  });
});
