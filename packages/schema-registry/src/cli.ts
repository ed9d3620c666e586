import { runSchemaCommand } from './command.ts';

/** `npm run schema:*`: the command with this process's arguments, directory, environment and output streams. */
async function main(): Promise<void> {
  process.exitCode = await runSchemaCommand(process.argv.slice(2), {
    cwd: process.cwd(),
    out: (text) => console.log(text),
    err: (text) => console.error(text),
  });
}

await main();
