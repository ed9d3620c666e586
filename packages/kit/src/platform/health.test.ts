import { afterEach, describe, it, expect, vi } from 'vitest';
import { Health } from './health.ts';
import { createDeferred } from '../testing/index.ts';

const up = async () => {};

describe('Health', () => {
  describe('readiness', () => {
    it('is ready when every check passes, and lists each check as up', async () => {
      const health = new Health('projects', { database: up, redis: up });

      expect(await health.readiness()).toEqual({ status: 'ready', checks: { database: { status: 'up' }, redis: { status: 'up' } } });
    });

    it('is ready with no checks at all', async () => {
      expect(await new Health('gateway', {}).readiness()).toEqual({ status: 'ready', checks: {} });
    });

    it('is unavailable when one check fails, naming it down with the error message', async () => {
      const health = new Health('projects', {
        database: up,
        redis: async () => {
          throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
        },
      });

      expect(await health.readiness()).toEqual({
        status: 'unavailable',
        checks: { database: { status: 'up' }, redis: { status: 'down', error: 'connect ECONNREFUSED 127.0.0.1:6379' } },
      });
    });

    it('reports a check that throws synchronously or rejects with a non-error as down', async () => {
      const health = new Health('projects', {
        sync: () => {
          throw new Error('not configured');
        },
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test: a rejection that is not an Error
        text: () => Promise.reject('broker gone'),
      });

      expect(await health.readiness()).toEqual({
        status: 'unavailable',
        checks: { sync: { status: 'down', error: 'not configured' }, text: { status: 'down', error: 'broker gone' } },
      });
    });

    it('counts a check that never settles as down after checkTimeoutMs, without waiting for it', async () => {
      const never = createDeferred();
      const health = new Health('projects', { database: up, broker: () => never.promise }, { checkTimeoutMs: 20 });

      expect(await health.readiness()).toEqual({
        status: 'unavailable',
        checks: { database: { status: 'up' }, broker: { status: 'down', error: 'no answer within 20 ms' } },
      });
    });

    it('waits for a slow check that answers in time', async () => {
      const slow = createDeferred();
      const health = new Health('projects', { database: () => slow.promise }, { checkTimeoutMs: 60_000 });

      const report = health.readiness();
      slow.resolve();

      expect(await report).toEqual({ status: 'ready', checks: { database: { status: 'up' } } });
    });

    it('runs the checks again on every call', async () => {
      let healthy = true;
      const health = new Health('projects', {
        database: async () => {
          if (!healthy) throw new Error('gone');
        },
      });

      expect((await health.readiness()).status).toBe('ready');
      healthy = false;
      expect((await health.readiness()).status).toBe('unavailable');
      healthy = true;
      expect((await health.readiness()).status).toBe('ready');
    });
  });

  describe('details', () => {
    it('reports them beside the checks without letting them decide readiness', async () => {
      const health = new Health(
        'gateway',
        { supergraph: up },
        { details: async () => ({ subgraphs: { auth: { status: 'down', error: 'unreachable' } } }) },
      );

      expect(await health.readiness()).toEqual({
        status: 'ready',
        checks: { supergraph: { status: 'up' } },
        subgraphs: { auth: { status: 'down', error: 'unreachable' } },
      });
    });

    it('leaves them out when they fail, and never lets them replace the status or the checks', async () => {
      const failing = new Health('gateway', { supergraph: up }, { details: () => Promise.reject(new Error('no answer')) });
      const overreaching = new Health('gateway', {}, { details: async () => ({ status: 'ready', checks: {}, note: 'kept' }) });
      overreaching.startDraining();

      expect(await failing.readiness()).toEqual({ status: 'ready', checks: { supergraph: { status: 'up' } } });
      expect(await overreaching.readiness()).toEqual({
        status: 'unavailable',
        checks: { shutdown: { status: 'down', error: 'draining' } },
        note: 'kept',
      });
    });
  });

  describe('startDraining', () => {
    it('makes readiness unavailable even when every check passes', async () => {
      const health = new Health('projects', { database: up });

      health.startDraining();

      expect(await health.readiness()).toEqual({
        status: 'unavailable',
        checks: { database: { status: 'up' }, shutdown: { status: 'down', error: 'draining' } },
      });
    });

    it('makes readiness unavailable for a service without checks', async () => {
      const health = new Health('gateway', {});

      health.startDraining();

      expect(await health.readiness()).toEqual({ status: 'unavailable', checks: { shutdown: { status: 'down', error: 'draining' } } });
    });
  });

  describe('summary', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('names the service and counts whole seconds of uptime', () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00.000Z'));
      const health = new Health('projects', {});

      expect(health.summary()).toEqual({ status: 'ok', service: 'projects', uptimeSeconds: 0 });
      vi.setSystemTime(new Date('2030-01-01T00:01:30.400Z'));
      expect(health.summary()).toEqual({ status: 'ok', service: 'projects', uptimeSeconds: 90 });
      vi.setSystemTime(new Date('2030-01-01T00:01:30.600Z'));
      expect(health.summary().uptimeSeconds).toBe(91);
    });

    it('stays ok while draining, because the process is still alive', () => {
      const health = new Health('projects', {});
      health.startDraining();

      expect(health.summary()).toMatchObject({ status: 'ok', service: 'projects' });
    });
  });
});
