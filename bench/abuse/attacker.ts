import { parseArgs } from 'node:util';
import { flood } from './attacks.ts';

/**
 * The attackers as a process of their own, so that building and sending abusive requests does not slow down the
 * process that measures normal traffic. Prints `{"ready": true}`, waits for "go" on stdin, floods, prints the stats.
 */
const { values } = parseArgs({ options: { url: { type: 'string' }, seconds: { type: 'string' }, attackers: { type: 'string' } } });
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.stdin.once('data', () => {
  flood(values.url!, performance.now() + Number(values.seconds) * 1000, Number(values.attackers)).then(
    (result) =>
      // Exiting only once the line is written: process.exit would cut a long write to a pipe short.
      process.stdout.write(
        `${JSON.stringify({ stats: Object.fromEntries(result.stats), websocketMessages: result.websocketMessages })}\n`,
        () => process.exit(0),
      ),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
