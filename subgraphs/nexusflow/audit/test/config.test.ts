import { describe, expect, it } from 'vitest';
import { loadAuditConfig } from '../src/config.ts';

describe('the audit configuration', () => {
  it('prunes hourly, appends eight events at once and links exports to the service’s default origin by default', () => {
    const config = loadAuditConfig({});
    expect(config).toMatchObject({ pruneIntervalMs: 3_600_000, eventConcurrency: 8, exportBaseUrl: 'http://localhost:3008' });
    expect(config.subgraph.port).toBe(3008);
    // Under `npm start --port-offset` the launcher moves PORT, and the links follow it.
    expect(loadAuditConfig({ PORT: '13008' }).exportBaseUrl).toBe('http://localhost:13008');
  });

  it('takes a public export origin, turns pruning off with 0, and refuses a concurrency outside 1 to 64', () => {
    const config = loadAuditConfig({
      AUDIT_EXPORT_BASE_URL: 'https://audit.example.com',
      AUDIT_PRUNE_INTERVAL_MS: '0',
      AUDIT_EVENT_CONCURRENCY: '1',
    });
    expect(config).toMatchObject({ exportBaseUrl: 'https://audit.example.com', pruneIntervalMs: 0, eventConcurrency: 1 });
    expect(() => loadAuditConfig({ AUDIT_EVENT_CONCURRENCY: '65' })).toThrow('AUDIT_EVENT_CONCURRENCY');
    expect(() => loadAuditConfig({ AUDIT_EXPORT_BASE_URL: 'not a url' })).toThrow('AUDIT_EXPORT_BASE_URL');
  });
});
