import { loadTestEnvironment } from './environment.ts';

/**
 * Vitest's global setup: checks the test servers once, before any file runs, so that under CI a missing `TEST_*`
 * variable fails the whole run with one message rather than letting a hundred tests skip.
 */
export default function checkTestServers(): void {
  loadTestEnvironment();
}
