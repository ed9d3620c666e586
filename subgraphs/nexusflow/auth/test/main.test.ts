import { describe, expect, it } from 'vitest';
import { launchScript } from '../../../../test/support/processes.ts';

describe('the auth service entry point', () => {
  it('reports every configuration problem in one message and exits with status 1', async () => {
    const service = launchScript('subgraphs/nexusflow/auth/src/main.ts', [], {
      ...process.env,
      NODE_ENV: 'production',
      PORT: 'not-a-port',
      DATABASE_URL: 'mysql://somewhere/auth',
      INTERNAL_SECRET: '',
      JWT_SECRET: 'too short',
    });
    const exitCode = await new Promise<number | null>((resolve) => service.child.once('exit', resolve));
    expect(exitCode).toBe(1);
    const output = service.output();
    expect(output).toContain('Invalid configuration:');
    for (const variable of ['PORT', 'DATABASE_URL', 'JWT_SECRET', 'INTERNAL_SECRET: is required when NODE_ENV=production']) {
      expect(output).toContain(`  - ${variable}`);
    }
  });
});
