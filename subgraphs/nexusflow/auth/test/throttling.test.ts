import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, signIdentity, type RunningSubgraph } from '@nexusflow/kit';
import {
  createTempDirectory,
  createTestDatabase,
  postGraphQL,
  storageModes,
  testEnvironment,
  type GraphQLResponse,
} from '@nexusflow/kit/testing';
import type { AuthServices } from '../src/context.ts';
import { Throttle } from '../src/domain/throttle.ts';
import { subgraph as auth } from '../src/subgraph.ts';

const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) { __typename ... on AuthSession { user { id } } }
}`;

const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) { __typename ... on AuthSession { user { id } } }
}`;

const PASSWORD = 'correct horse battery';
const WRONG_PASSWORD = 'not the password at all';

/** What a client can tell from one answer: the payload's type, or the error's code, wait and message. */
type Outcome = string | { code: unknown; retryAfterSeconds: unknown; message: string };

function outcome(response: GraphQLResponse<Record<string, { __typename: string } | null>>, field: string): Outcome {
  const [error] = response.errors ?? [];
  if (error) return { code: error.extensions?.code, retryAfterSeconds: error.extensions?.retryAfterSeconds, message: error.message };
  return response.data![field]!.__typename;
}

const signInRefused = (retryAfterSeconds: number, wait = `${retryAfterSeconds} second${retryAfterSeconds === 1 ? '' : 's'}`) => ({
  code: 'RATE_LIMITED',
  retryAfterSeconds,
  message: `Too many failed sign-in attempts; try again in ${wait}`,
});

/**
 * Failed sign-ins and registrations are throttled in the auth service's own database, per email and
 * per client address, with the service's clock under the test's control: no test waits for real time.
 */
describe('sign-in and registration throttling', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let subgraph: RunningSubgraph<AuthServices>;
    const clock = { now: Date.now() };
    const cleanups: (() => Promise<void>)[] = [];
    let addresses = 0;

    beforeAll(async () => {
      const dataDir = await createTempDirectory(`auth-throttling-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = {
        PORT: '0',
        DATA_DIR: dataDir.path,
        LOG_LEVEL: 'silent',
        // Smaller allowances than the defaults keep the number of (deliberately slow) password checks down.
        LOGIN_FAILURES_PER_ACCOUNT: '3',
        LOGIN_FAILURES_PER_ADDRESS: '6',
        REGISTRATIONS_PER_ADDRESS: '3',
      };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'auth_throttling');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      subgraph = await auth.start(env, { clock: () => clock.now });
      cleanups.push(() => subgraph.close());
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    const elapse = (seconds: number) => {
      clock.now += seconds * 1000;
    };
    const newAddress = () => `203.0.113.${++addresses}`;
    const newEmail = () => `user-${crypto.randomUUID()}@example.com`;

    /** As the gateway forwards a client at `address`; without one, as another service calls. */
    const headers = (address?: string) => signIdentity(ANONYMOUS, subgraph.config.internalSecret, Date.now(), address);

    async function login(email: string, password: string, address?: string): Promise<Outcome> {
      const response = await postGraphQL<Record<string, { __typename: string }>>(subgraph.graphqlUrl, LOGIN, {
        variables: { input: { email, password } },
        headers: headers(address),
      });
      return outcome(response, 'login');
    }

    async function register(email: string, address?: string): Promise<Outcome> {
      const response = await postGraphQL<Record<string, { __typename: string }>>(subgraph.graphqlUrl, REGISTER, {
        variables: { input: { email, password: PASSWORD, name: 'Ada Lovelace', tenantName: 'Acme' } },
        headers: headers(address),
      });
      return outcome(response, 'register');
    }

    async function registeredEmail(): Promise<string> {
      const email = newEmail();
      expect(await register(email)).toBe('AuthSession');
      return email;
    }

    async function failTimes(times: number, email: string, address = newAddress()): Promise<Outcome[]> {
      const outcomes = [];
      for (let attempt = 0; attempt < times; attempt++) outcomes.push(await login(email, WRONG_PASSWORD, address));
      return outcomes;
    }

    it('refuses even the right password once an email has used its failures, with a wait that doubles per failure', async () => {
      const email = await registeredEmail();
      const address = newAddress();
      expect(await failTimes(3, email, address)).toEqual(['InvalidCredentials', 'InvalidCredentials', 'InvalidCredentials']);
      expect(await login(email, PASSWORD, address)).toEqual(signInRefused(1));

      elapse(1);
      expect(await login(email, WRONG_PASSWORD, address)).toBe('InvalidCredentials');
      expect(await login(email, PASSWORD, address)).toEqual(signInRefused(2));

      elapse(2);
      expect(await login(email, WRONG_PASSWORD, address)).toBe('InvalidCredentials');
      expect(await login(email, PASSWORD, address)).toEqual(signInRefused(4));
      elapse(1);
      expect(await login(email, PASSWORD, address)).toEqual(signInRefused(3));
    });

    it('answers a refused sign-in with RATE_LIMITED and retryAfterSeconds, and no data', async () => {
      const email = newEmail();
      await failTimes(3, email);
      const response = await postGraphQL(subgraph.graphqlUrl, LOGIN, {
        variables: { input: { email, password: PASSWORD } },
        headers: headers(newAddress()),
      });
      expect(response.status).toBe(200);
      expect(response.data).toBeNull();
      expect(response.errors).toEqual([
        {
          message: 'Too many failed sign-in attempts; try again in 1 second',
          path: ['login'],
          locations: [{ line: 2, column: 3 }],
          extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 1 },
        },
      ]);
    });

    it('lets the right password in once the wait has passed, and then counts the email afresh', async () => {
      const email = await registeredEmail();
      await failTimes(3, email);
      expect(await login(email, PASSWORD, newAddress())).toEqual(signInRefused(1));

      elapse(1);
      expect(await login(email, PASSWORD, newAddress())).toBe('AuthSession');
      expect(await failTimes(3, email)).toEqual(['InvalidCredentials', 'InvalidCredentials', 'InvalidCredentials']);
      expect(await login(email, PASSWORD, newAddress())).toEqual(signInRefused(1));
    });

    it('stops an attacker who changes address with every guess: the email is limited from every address', async () => {
      const email = await registeredEmail();
      for (const variant of [email, email.toUpperCase(), ` ${email} `])
        expect(await login(variant, WRONG_PASSWORD, newAddress())).toBe('InvalidCredentials');
      expect(await login(email, PASSWORD, newAddress())).toEqual(signInRefused(1));
      expect(await login(email, PASSWORD)).toEqual(signInRefused(1));
    });

    it('forgets failures once they are older than the window', async () => {
      const email = await registeredEmail();
      await failTimes(2, email);
      elapse(15 * 60);
      expect(await failTimes(2, email)).toEqual(['InvalidCredentials', 'InvalidCredentials']);
      expect(await login(email, PASSWORD, newAddress())).toBe('AuthSession');
    });

    it('treats an unknown email exactly like a registered one', async () => {
      const journey = async (email: string) => {
        const outcomes = [...(await failTimes(3, email)), await login(email, PASSWORD, newAddress())];
        elapse(1);
        outcomes.push(await login(email, WRONG_PASSWORD, newAddress()), await login(email, WRONG_PASSWORD, newAddress()));
        return outcomes;
      };
      const registered = await journey(await registeredEmail());
      const unknown = await journey(newEmail());
      expect(unknown).toEqual(registered);
      expect(registered).toEqual([
        'InvalidCredentials',
        'InvalidCredentials',
        'InvalidCredentials',
        signInRefused(1),
        'InvalidCredentials',
        signInRefused(2),
      ]);
    });

    it('counts every one of many failures sent at once, and lets through only as many as the email allows', async () => {
      const email = await registeredEmail();
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => login(email, WRONG_PASSWORD, newAddress())));
      expect(outcomes.filter((answer) => answer === 'InvalidCredentials')).toHaveLength(3);
      expect(outcomes.filter((answer) => answer !== 'InvalidCredentials')).toEqual(Array.from({ length: 5 }, () => signInRefused(1)));

      elapse(1);
      const afterWait = await Promise.all(Array.from({ length: 2 }, () => login(email, WRONG_PASSWORD, newAddress())));
      expect(afterWait).toContainEqual('InvalidCredentials');
      expect(afterWait).toContainEqual(signInRefused(2));
    });

    it('admits exactly the allowance out of a burst of parallel attempts on separate connections, and refunds each one once', async () => {
      const throttle = new Throttle('registration-address', { kind: 'quota', allowance: 20, windowMs: 60_000 }, () => clock.now);
      const subject = crypto.randomUUID();
      const burst = await Promise.all(Array.from({ length: 60 }, () => throttle.admit(subgraph.database.fork(), subject)));
      const admitted = burst.filter((admission) => admission.admitted);
      expect(admitted).toHaveLength(20);
      expect(burst.filter((admission) => !admission.admitted)).toEqual(
        Array.from({ length: 40 }, () => ({ admitted: false, retryAfterSeconds: 60 })),
      );

      await Promise.all(admitted.slice(0, 5).map((admission) => admission.refund()));
      const again = await Promise.all(Array.from({ length: 10 }, () => throttle.admit(subgraph.database.fork(), subject)));
      expect(again.filter((admission) => admission.admitted)).toHaveLength(5);
    });

    it('blocks an address that sprays guesses over many emails (one IPv6 /64 is one address), while other addresses sign in', async () => {
      const email = await registeredEmail();
      const sprayer = (host: number) => `2001:db8:7:7::${host.toString(16)}`;
      const sprayed = [];
      for (let host = 1; host <= 6; host++)
        sprayed.push(await login(host % 2 ? newEmail() : await registeredEmail(), WRONG_PASSWORD, sprayer(host)));
      expect(sprayed).toEqual(Array.from({ length: 6 }, () => 'InvalidCredentials'));

      expect(await login(email, PASSWORD, sprayer(7))).toEqual(signInRefused(1));
      expect(await login(email, PASSWORD, newAddress())).toBe('AuthSession');
      elapse(1);
      expect(await login(newEmail(), WRONG_PASSWORD, sprayer(8))).toBe('InvalidCredentials');
      expect(await login(email, PASSWORD, sprayer(9))).toEqual(signInRefused(2));
    });

    it('keeps counting an address through its successful sign-ins, which themselves count as no failure', async () => {
      const email = await registeredEmail();
      const office = newAddress();
      for (let failure = 0; failure < 5; failure++) expect(await login(newEmail(), WRONG_PASSWORD, office)).toBe('InvalidCredentials');
      expect(await login(email, PASSWORD, office)).toBe('AuthSession');
      expect(await login(newEmail(), WRONG_PASSWORD, office)).toBe('InvalidCredentials');
      expect(await login(email, PASSWORD, office)).toEqual(signInRefused(1));
    });

    it('limits registrations per address, counting taken emails too, and not calls between services', async () => {
      const address = newAddress();
      const taken = await registeredEmail();
      expect([await register(newEmail(), address), await register(taken, address), await register(newEmail(), address)]).toEqual([
        'AuthSession',
        'EmailAlreadyRegistered',
        'AuthSession',
      ]);
      expect(await register(newEmail(), address)).toEqual({
        code: 'RATE_LIMITED',
        retryAfterSeconds: 3600,
        message: 'Too many registrations from this address; try again in 60 minutes',
      });
      expect(await register(newEmail(), newAddress())).toBe('AuthSession');
      expect(await register(newEmail())).toBe('AuthSession');

      elapse(45 * 60);
      expect(await register(newEmail(), address)).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 15 * 60 });
      elapse(15 * 60);
      expect(await register(newEmail(), address)).toBe('AuthSession');
    });

    it('deletes the counters whose attempts have all stopped counting, and only those', async () => {
      const prune = () => subgraph.services.auth.pruneThrottles(subgraph.database.fork());
      const counters = async () => {
        const [row] = await subgraph.database
          .fork()
          .getConnection()
          .execute<{ count: number }[]>('select count(*)::int as "count" from "throttle_counters"');
        return row!.count;
      };
      elapse(60 * 60);
      await prune();
      expect(await counters()).toBe(0);

      const address = newAddress();
      await failTimes(2, newEmail(), address);
      expect(await register(newEmail(), address)).toBe('AuthSession');
      expect(await counters()).toBe(3);
      expect(await prune()).toBe(0);

      elapse(15 * 60);
      expect(await prune()).toBe(2);
      elapse(45 * 60);
      expect(await prune()).toBe(1);
      expect(await counters()).toBe(0);
    });
  });
});
