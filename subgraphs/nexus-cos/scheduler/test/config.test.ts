import { describe, expect, it } from 'vitest';
import { loadSchedulerConfig } from '../src/config.ts';

describe('the scheduler configuration', () => {
  it('delivers to each target service on its npm start port, moved by the launcher’s port offset', () => {
    expect(loadSchedulerConfig({}).targetOrigins['invoice-gen']).toBe('http://127.0.0.1:4021');
    expect(loadSchedulerConfig({ PORT_OFFSET: '20000' }).targetOrigins['invoice-gen']).toBe('http://127.0.0.1:24021');
    expect(
      loadSchedulerConfig({ TASK_TARGET_URL_TEMPLATE: 'http://{service}:{port}', PORT_OFFSET: '20000' }).targetOrigins['invoice-gen'],
    ).toBe('http://invoice-gen:3021');
  });
});
