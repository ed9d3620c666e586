import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.ts';
import { defaultLogFormat, logFormatFromEnvironment } from './logger.ts';

/**
 * Logs two lines from a separate Node process run through tsx (as `npm start` runs every service) with the given
 * environment, then exits at once, and returns what it printed.
 */
async function logFromProcess(env: Record<string, string>): Promise<{ stdout: string; stderr: string; exitCode: number | null }> {
  const code = `
    const { createLogger } = await import(${JSON.stringify(new URL('./logger.ts', import.meta.url).pathname)});
    const logger = createLogger({ name: 'auth', level: 'info' });
    logger.info({ url: 'http://127.0.0.1:3001/graphql' }, 'subgraph ready');
    logger.warn({ input: { email: 'ada@example.com', password: 'correct horse battery' } }, 'sign-in refused');
    process.exit(0);`;
  const { FORCE_COLOR: _force, NO_COLOR: _no, LOG_FORMAT: _format, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { stdout, stderr, exitCode };
}

describe('logs', () => {
  it('are pretty by default only in development on a terminal', () => {
    expect(defaultLogFormat('development', true)).toBe('pretty');
    expect(defaultLogFormat('development', false)).toBe('json');
    expect(defaultLogFormat('test', true)).toBe('json');
    expect(defaultLogFormat('production', true)).toBe('json');
  });

  it('follow LOG_FORMAT whatever NODE_ENV says, and refuse other formats', () => {
    expect(logFormatFromEnvironment({ NODE_ENV: 'production', LOG_FORMAT: 'pretty' })).toBe('pretty');
    expect(logFormatFromEnvironment({ NODE_ENV: 'development', LOG_FORMAT: 'json' })).toBe('json');
    expect(logFormatFromEnvironment({ NODE_ENV: 'test' })).toBe('json');
    expect(() => logFormatFromEnvironment({ LOG_FORMAT: 'text' })).toThrow(ConfigError);
  });

  it('with LOG_FORMAT=pretty are readable lines under tsx, redacted like JSON, and none is lost when the process exits at once', async () => {
    const { stdout, stderr, exitCode } = await logFromProcess({ NODE_ENV: 'development', LOG_FORMAT: 'pretty' });

    expect(exitCode).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(auth\): subgraph ready \{"url":"http:\/\/127\.0\.0\.1:3001\/graphql"\}$/);
    expect(lines[1]).toMatch(/^\[[\d:.]+\] WARN \(auth\): sign-in refused /);
    expect(lines[1]).toContain('"password":"[redacted]"');
    expect(stdout).not.toContain('correct horse battery');
  });

  it('are one JSON object a line in production, and in development when the output is not a terminal', async () => {
    const nodeEnvs = ['production', 'development'];
    const runs = await Promise.all(nodeEnvs.map((nodeEnv) => logFromProcess({ NODE_ENV: nodeEnv })));
    for (const [index, nodeEnv] of nodeEnvs.entries()) {
      const { stdout, exitCode } = runs[index]!;

      expect(exitCode, nodeEnv).toBe(0);
      const entries = stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(
        entries.map(({ name, msg }) => ({ name, msg })),
        nodeEnv,
      ).toEqual([
        { name: 'auth', msg: 'subgraph ready' },
        { name: 'auth', msg: 'sign-in refused' },
      ]);
      expect(entries[1]?.input, nodeEnv).toEqual({ email: 'ada@example.com', password: '[redacted]' });
    }
  });
});
