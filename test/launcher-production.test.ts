import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, secretOrDevelopmentDefault, signIdentity, STATEMENTS_HEADER } from '@nexusflow/kit';
import { postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { MyNotificationsDocument } from '@nexusflow/web-client';
import { readTopology, SUBGRAPH_HEAP_BUDGET_MB } from '../scripts/topology.ts';
import { argumentsOf, launch, LOGIN, pidStartedAs, randomSecret, registerLoginMe, SERVICE_SECRETS } from './support/launches.ts';

// Apart from launcher.test.ts, so that the two files' launches run side by side.
describe('the launcher', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)('with --production', () => {
    it('gives each subgraph its own database on the real PostgreSQL, with Redis and RabbitMQ, and serves through the gateway', async () => {
      const prefix = `nf_test_launch_${randomBytes(4).toString('hex')}_`;
      const admin = new pg.Client({ connectionString: testEnvironment.postgresUrl });
      await admin.connect();
      cleanups.push(async () => {
        const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [prefix]);
        for (const { datname } of rows) await admin.query(`drop database "${datname}" with (force)`);
        await admin.end();
      });

      const internalSecret = randomBytes(32).toString('hex');
      const { launcher, gatewayUrl, portOffset } = await launch(['--production'], {
        JWT_SECRET: randomBytes(32).toString('hex'),
        ...Object.fromEntries(SERVICE_SECRETS.map((name) => [name, randomSecret(name)])),
        INTERNAL_SECRET: internalSecret,
        POSTGRES_URL: testEnvironment.postgresUrl,
        REDIS_URL: testEnvironment.redisUrl,
        AMQP_URL: testEnvironment.amqpUrl,
        AMQP_NAMESPACE: prefix.replaceAll('_', '-').replace(/-$/, ''),
        DATABASE_NAME_PREFIX: prefix,
        RESTART_BASE_DELAY_MS: '100',
      });
      cleanups.push(() => launcher.stop('SIGKILL'));
      const account = await registerLoginMe(gatewayUrl);

      const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1) order by 1', [
        prefix,
      ]);
      expect(rows.map((row) => row.datname)).toEqual(
        readTopology()
          .map((subgraph) => `${prefix}${subgraph.database}`)
          .sort(),
      );
      const users = new pg.Pool({ connectionString: testEnvironment.postgresUrl!.replace(/\/[^/]*$/, `/${prefix}nexusflow_auth`), max: 1 });
      expect((await users.query('select count(*)::int as count from users')).rows[0].count).toBe(1);
      await users.end();

      // Every process runs with NODE_ENV=production: the gateway hides its schema, and the subgraphs trust only the
      // configured secret (never the public development one) and keep their SQL counts to themselves.
      const introspection = await postGraphQL(gatewayUrl, '{ __schema { queryType { name } } }');
      expect(introspection.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      for (const { name, port } of readTopology()) {
        const subgraphUrl = `http://127.0.0.1:${port + portOffset}/graphql`;
        const forged = await postGraphQL(subgraphUrl, '{ __typename }', {
          headers: signIdentity(ANONYMOUS, secretOrDevelopmentDefault(undefined)),
        });
        expect(forged.status, name).toBe(401);
        const signed = await postGraphQL(subgraphUrl, '{ __typename }', { headers: signIdentity(ANONYMOUS, internalSecret) });
        expect(signed.data, name).toEqual({ __typename: 'Query' });
        expect(signed.headers.has(STATEMENTS_HEADER), name).toBe(false);
      }

      // One process per subgraph, each with its heap budget; one of them killed comes back while the others serve.
      for (const { name } of readTopology()) {
        expect(await argumentsOf(await pidStartedAs(launcher, name, 1)), name).toContain(`--max-old-space-size=${SUBGRAPH_HEAP_BUDGET_MB}`);
      }
      const killedNotificationsPid = await pidStartedAs(launcher, 'notifications', 1);
      process.kill(killedNotificationsPid, 'SIGKILL');
      await launcher.waitForLine(/^notifications exited \(SIGKILL\); restarting in 100 ms, attempt 1$/);
      const login = await postGraphQL<{ login: { accessToken: string } }>(gatewayUrl, LOGIN, { variables: { input: account } });
      expect(login.data?.login.accessToken).toEqual(expect.any(String));
      await launcher.waitForLine(/^notifications is ready again after restart attempt 1$/);
      expect(await pidStartedAs(launcher, 'notifications', 2)).not.toBe(killedNotificationsPid);
      const notifications = await postGraphQL(gatewayUrl, MyNotificationsDocument, { token: login.data?.login.accessToken });
      expect(notifications.data?.me?.notifications).toEqual([]);

      // Ctrl-C, as a person stops it.
      expect(await launcher.stop('SIGINT')).toBe(0);
      expect(launcher.output().trimEnd().split('\n').at(-1)).toBe('Stopped.');
    }, 120_000);
  });
});
