import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { signUp, TEST_PASSWORD } from '../support/accounts.ts';
import { startStack, type Stack } from '../support/stack.ts';

const LOGIN = `mutation ($input: LoginInput!) {
  login(input: $input) { __typename ... on AuthSession { accessToken } ... on MfaRequired { challengeToken } }
}`;
const COMPLETE = `mutation ($challengeToken: String!, $code: String!) {
  completeMfaSignIn(challengeToken: $challengeToken, code: $code) {
    __typename ... on AuthSession { accessToken user { mfaEnabled } } ... on UserError { message }
  }
}`;
const BEGIN = `mutation { beginMfaEnrollment { __typename ... on MfaEnrollment { manualEntryKey qrCodeDataUrl } } }`;
const CONFIRM = `mutation ($code: String!) { confirmMfaEnrollment(code: $code) { __typename ... on MfaRecoveryCodes { codes } } }`;
const REGENERATE = `mutation ($code: String!) { regenerateRecoveryCodes(code: $code) { __typename ... on MfaRecoveryCodes { codes } } }`;
const DISABLE = `mutation ($code: String!) { disableMfa(code: $code) { __typename } }`;
const ME = `{ me { email mfaEnabled } }`;

const PERIOD_MS = 30_000;

/**
 * Two-factor authentication end to end, as a web client goes through it: enroll, sign in in two steps, manage recovery
 * codes, turn it off. The gateway and auth share a clock the test moves, so that each code is from a period of its own.
 */
describe('Two-factor authentication through the gateway', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    const clock = { now: Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS };

    beforeAll(async () => {
      stack = await startStack(mode, `mfa_${mode}`, { now: () => clock.now });
    });

    afterAll(async () => {
      await stack?.close();
    });

    async function send(document: string, options: { token?: string; variables?: Record<string, unknown> } = {}) {
      const response = await postGraphQL<Record<string, any>>(stack.gateway.graphqlUrl, document, options);
      expect(response.errors).toBeUndefined();
      return response.data!;
    }

    const nextPeriod = () => {
      clock.now += PERIOD_MS;
    };

    it('enables MFA with an authenticator code, then signs in with the password and a code, and turns it off again', async () => {
      const owner = await signUp(stack.gateway.graphqlUrl, 'mfa');
      const enrollment = (await send(BEGIN, { token: owner.token })).beginMfaEnrollment;
      expect(enrollment.qrCodeDataUrl).toMatch(/^data:image\/png;base64,/);
      const secret: string = enrollment.manualEntryKey;
      const code = () => generate({ secret, epoch: Math.floor(clock.now / 1000) });

      const confirmed = (await send(CONFIRM, { token: owner.token, variables: { code: await code() } })).confirmMfaEnrollment;
      expect(confirmed.codes).toHaveLength(10);
      expect((await send(ME, { token: owner.token })).me).toEqual({ email: owner.email, mfaEnabled: true });

      nextPeriod();
      const first = (await send(LOGIN, { variables: { input: { email: owner.email, password: TEST_PASSWORD } } })).login;
      expect(first.__typename).toBe('MfaRequired');
      const signedIn = (await send(COMPLETE, { variables: { challengeToken: first.challengeToken, code: await code() } }))
        .completeMfaSignIn;
      expect(signedIn).toMatchObject({ __typename: 'AuthSession', user: { mfaEnabled: true } });
      expect((await send(ME, { token: signedIn.accessToken })).me.email).toBe(owner.email);

      const regenerated = (await send(REGENERATE, { token: signedIn.accessToken, variables: { code: confirmed.codes[0] } }))
        .regenerateRecoveryCodes;
      expect(regenerated.codes).toHaveLength(10);
      expect((await send(DISABLE, { token: signedIn.accessToken, variables: { code: regenerated.codes[0] } })).disableMfa.__typename).toBe(
        'MfaDisabled',
      );
      expect((await send(LOGIN, { variables: { input: { email: owner.email, password: TEST_PASSWORD } } })).login.__typename).toBe(
        'AuthSession',
      );
    });
  });
});
