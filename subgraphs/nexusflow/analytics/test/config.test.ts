import { describe, expect, it } from 'vitest';
import { loadAnalyticsConfig } from '../src/config.ts';

describe('the analytics configuration', () => {
  it('stores eight events at once, makes partitions three months ahead every six hours, and links exports to its default origin', () => {
    const config = loadAnalyticsConfig({});
    expect(config).toMatchObject({
      eventConcurrency: 8,
      partitionIntervalMs: 21_600_000,
      partitionsAhead: 3,
      exportBaseUrl: 'http://localhost:3006',
    });
    expect(config.subgraph.port).toBe(3006);
    // Under `npm start --port-offset` the launcher moves PORT, and the links follow it.
    expect(loadAnalyticsConfig({ PORT: '13006' }).exportBaseUrl).toBe('http://localhost:13006');
  });

  it('takes a public export origin, turns the partition pass off with 0, and refuses values out of range', () => {
    const config = loadAnalyticsConfig({
      ANALYTICS_EXPORT_BASE_URL: 'https://analytics.example.com',
      ANALYTICS_PARTITION_INTERVAL_MS: '0',
      ANALYTICS_PARTITIONS_AHEAD: '12',
      ANALYTICS_EVENT_CONCURRENCY: '1',
    });
    expect(config).toMatchObject({
      exportBaseUrl: 'https://analytics.example.com',
      partitionIntervalMs: 0,
      partitionsAhead: 12,
      eventConcurrency: 1,
    });
    expect(() => loadAnalyticsConfig({ ANALYTICS_EVENT_CONCURRENCY: '65' })).toThrow('ANALYTICS_EVENT_CONCURRENCY');
    expect(() => loadAnalyticsConfig({ ANALYTICS_PARTITIONS_AHEAD: '25' })).toThrow('ANALYTICS_PARTITIONS_AHEAD');
    expect(() => loadAnalyticsConfig({ ANALYTICS_EXPORT_BASE_URL: 'not a url' })).toThrow('ANALYTICS_EXPORT_BASE_URL');
  });
});
