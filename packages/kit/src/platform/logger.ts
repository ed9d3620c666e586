import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { z } from 'zod';
import { logFormatSchema, nodeEnvSchema, parseConfig, type Environment, type LogFormat } from './config.ts';

export type { Logger };

/**
 * Pretty for a person at a development terminal; JSON everywhere else (production, tests, and output going to a pipe or
 * a file, where another program reads it). LOG_FORMAT overrides either way.
 */
export function defaultLogFormat(nodeEnv: z.output<typeof nodeEnvSchema>, isTerminal = process.stdout.isTTY === true): LogFormat {
  return nodeEnv === 'development' && isTerminal ? 'pretty' : 'json';
}

const logFormatEnvSchema = z.object({ NODE_ENV: nodeEnvSchema, LOG_FORMAT: logFormatSchema.optional() });

/** LOG_FORMAT, or the default for NODE_ENV and this process's standard output: for processes that read no other configuration for it. */
export function logFormatFromEnvironment(env: Environment = process.env): LogFormat {
  const parsed = parseConfig(logFormatEnvSchema, env);
  return parsed.LOG_FORMAT ?? defaultLogFormat(parsed.NODE_ENV);
}

export interface LoggerOptions {
  name: string;
  level: string;
  /** @default logFormatFromEnvironment() */
  format?: LogFormat;
}

export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions = {
    name: options.name,
    level: options.level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.refreshToken'], censor: '[redacted]' },
  };
  // Written synchronously: pino's default asynchronous destination can lose or reorder the last lines when the process
  // exits while a write is still in flight, which is exactly when the lines matter most.
  if ((options.format ?? logFormatFromEnvironment()) === 'json') return pino(pinoOptions, pino.destination({ dest: 1, sync: true }));
  // A stream in this thread rather than pino's worker-thread transport: nothing to load in a worker (which tsx-run
  // TypeScript entry points make fragile), and synchronous, so the last lines before process.exit are not lost.
  return pino(pinoOptions, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }));
}
