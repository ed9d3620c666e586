import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { launchScript } from '../../../test/support/processes.ts';
import { graphNames, servicesOf } from '@nexusflow/topology';
import { repositoryRoot } from '../../../scripts/topology.ts';
import { runSchemaCommand } from './command.ts';

/**
 * The commands a CI pipeline runs, on a copy of this repository's own schema, registry and client operations: what a
 * developer sees when they change a subgraph. They run in-process (`runSchemaCommand`, what the CLI calls), all but one:
 * that one starts the process a pipeline starts.
 */
// A check composes each graph it covers (both unless --graph), a second or more on a busy two-core machine; a test
// runs up to seven commands.
describe('npm run schema:* on a copy of the repository', { timeout: 120_000 }, () => {
  type Scratch = Awaited<ReturnType<typeof createTempDirectory>>;
  /** The repository's schema, clients and registry with the working tree published: every test starts from a copy. */
  let baseline: Scratch;
  let workspace: Scratch;
  const authSchema = () => join(workspace.path, 'subgraphs/nexusflow/auth/schema.graphql');

  /** The command on the workspace, its standard output and error as one text, as a terminal shows them. */
  async function schema(...args: string[]): Promise<{ exitCode: number; output: string }> {
    const lines: string[] = [];
    const exitCode = await runSchemaCommand(args, {
      cwd: workspace.path,
      env: {},
      out: (text) => lines.push(text),
      err: (text) => lines.push(text),
    });
    return { exitCode, output: lines.join('\n') };
  }

  /** The command as `npm run schema:*` starts it: a process on the workspace, its two streams apart. */
  const schemaProcess = (...args: string[]) =>
    launchScript(join(repositoryRoot, 'packages/schema-registry/src/cli.ts'), args, { ...process.env }, workspace.path).finished();

  beforeAll(async () => {
    baseline = await createTempDirectory('schema-cli-baseline');
    const subgraphSchemas = graphNames.flatMap((graph) => servicesOf(graph).map(({ name }) => `subgraphs/${graph}/${name}/schema.graphql`));
    for (const path of ['schema', 'clients', 'gateway/src/operations', ...subgraphSchemas]) {
      await mkdir(join(baseline.path, path, '..'), { recursive: true });
      await cp(join(repositoryRoot, path), join(baseline.path, path), { recursive: true });
    }
    // The copy starts from its working tree published, whatever the repository's registry holds.
    workspace = baseline;
    const published = await schema('publish', '-m', 'baseline');
    if (published.exitCode !== 0) throw new Error(`the working tree does not pass its own check:\n${published.output}`);
  });

  // A copy of the baseline each: what one test changes or publishes, or leaves behind when it fails, no other sees.
  beforeEach(async () => {
    workspace = await createTempDirectory('schema-cli');
    await cp(baseline.path, workspace.path, { recursive: true });
  });

  afterEach(async () => {
    await workspace?.remove();
  });

  afterAll(async () => {
    await baseline?.remove();
  });

  it('passes when nothing changed since the published version, with --require-published too', async () => {
    const { exitCode, output } = await schema('check');
    expect(output).toContain('Subgraphs: none changed');
    expect(output).toMatch(/PASSED \(\d+ ms\)/);
    expect(exitCode).toBe(0);

    const required = await schema('check', '--require-published');
    expect(required.output).toMatch(/^Publication: the working supergraph is published version \d+, which production serves$/m);
    expect(required.exitCode).toBe(0);
  });

  it('fails when a field a client uses is removed, naming the field and the operations, as JSON too', async () => {
    const original = await readFile(authSchema(), 'utf8');
    await writeFile(authSchema(), original.replace('  "Sign-in email, lower-cased."\n  email: String!\n', ''));

    const text = await schema('check');
    expect(text.exitCode).toBe(1);
    expect(text.output).toContain('✗ BREAKING  FIELD_REMOVED User.email [auth]');
    expect(text.output).toContain('✗ Me (clients/web/operations/auth.graphql)');
    expect(text.output).toContain('Cannot query field "email" on type "User".');

    const json = await schema('check', '--json', '--graph', 'nexusflow');
    expect(json.exitCode).toBe(1);
    const report = JSON.parse(json.output) as { ok: boolean; changes: { path: string; affectedOperations: string[] }[] };
    expect(report.ok).toBe(false);
    expect(report.changes.find((change) => change.path === 'User.email')?.affectedOperations).toContain('Me');
  });

  it("fails when a change breaks the gateway's own call to a subgraph, naming the gateway as the caller", async () => {
    const original = await readFile(authSchema(), 'utf8');
    await writeFile(authSchema(), original.replace('authenticateApiKey(secretHash: String!)', 'authenticateApiKey(hashOfSecret: String!)'));

    const { exitCode, output } = await schema('check');
    expect(output).toContain('gateway → auth: operation AuthenticateApiKey');
    expect(exitCode).toBe(1);
  });

  it('refuses to publish a failing change, publishes a passing one once, and shows it in the log and the diff', async () => {
    const original = await readFile(authSchema(), 'utf8');
    await writeFile(authSchema(), original.replace('  "Sign-in email, lower-cased."\n  email: String!\n', ''));
    const refused = await schema('publish', '-m', 'drop email');
    expect(refused.exitCode).toBe(1);
    expect(refused.output).toContain('Nothing published: the check must pass first.');

    await writeFile(
      authSchema(),
      original.replace(
        '  "Display name."\n  name: String!\n',
        '  "Display name."\n  name: String!\n  "How the user likes to be addressed."\n  nickname: String\n',
      ),
    );
    const everyGraph = JSON.parse((await schema('log', '--json')).output) as Record<string, unknown[]>;
    expect(Object.keys(everyGraph).sort()).toEqual([...graphNames].sort());
    const before = JSON.parse((await schema('log', '--json', '--graph', 'nexusflow')).output) as { version: number; message: string }[];
    const published = await schema('publish', '--graph', 'nexusflow', '-m', 'Add User.nickname');
    expect(published.exitCode).toBe(0);
    const next = before[0]!.version + 1;
    expect(published.output).toContain(`Published version ${next} with 2 change(s)`);
    expect(await readFile(join(workspace.path, 'schema/nexusflow/registry/published/supergraph.graphql'), 'utf8')).toContain(
      'nickname: String',
    );

    const log = JSON.parse((await schema('log', '--json', '--graph', 'nexusflow')).output) as {
      version: number;
      message: string;
      safe: number;
    }[];
    expect(log[0]).toMatchObject({ version: next, message: 'Add User.nickname', safe: 2 });
    expect(log.slice(1).map(({ version, message }) => ({ version, message }))).toEqual(
      before.map(({ version, message }) => ({ version, message })),
    );
    const again = await schema('publish', '--graph', 'nexusflow', '-m', 'Nothing new');
    expect(again).toEqual({ exitCode: 0, output: `Nothing to publish: the working supergraph is published version ${next}` });
    expect((JSON.parse((await schema('log', '--json', '--graph', 'nexusflow')).output) as unknown[]).length).toBe(log.length);

    const diff = await schema('diff', '--graph', 'nexusflow', String(next - 1), String(next));
    expect(diff.exitCode).toBe(0);
    expect(diff.output).toContain('✓ safe      FIELD_ADDED User.nickname');
    expect((await schema('diff', '--graph', 'nexusflow', String(next), 'working')).output).toContain(
      `Changes from ${next} to working: none`,
    );
  });

  it('with --require-published, fails while the working tree is ahead of the published version unless a note says why, and publishing removes the note', async () => {
    const note = join(workspace.path, 'schema/nexusflow/pending-publication.yaml');
    const original = await readFile(authSchema(), 'utf8');
    await writeFile(
      authSchema(),
      original.replace(
        '  "Display name."\n  name: String!\n',
        '  "Display name."\n  name: String!\n  "How to refer to the user."\n  pronouns: String\n',
      ),
    );

    const plain = await schema('check');
    expect(plain.exitCode).toBe(0);
    const ahead = await schema('check', '--require-published');
    expect(ahead.exitCode).toBe(1);
    expect(ahead.output).toMatch(
      /^Publication: the working supergraph is ahead of published version \d+, which production serves; publish it \(npm run schema:publish -m "…"\), or commit a pending-publication note \(schema\/nexusflow\/pending-publication\.yaml\) saying why it waits$/m,
    );
    expect(ahead.output).toMatch(/^FAILED: the working supergraph is not published, and no publication is pending \(\d+ ms\)$/m);

    await writeFile(note, 'reason: Waits for the profile page of web 4.3\n');
    const pending = await schema('check', '--require-published');
    expect(pending.output).toContain('; publication pending: Waits for the profile page of web 4.3');
    expect(pending.exitCode).toBe(0);

    const published = await schema('publish', '-m', 'Add User.pronouns');
    expect(published.exitCode).toBe(0);
    expect(published.output).toContain('Removed schema/nexusflow/pending-publication.yaml: the publication it announced is done');
    expect(existsSync(note)).toBe(false);
    expect((await schema('check', '--require-published')).exitCode).toBe(0);

    await writeFile(note, 'reason: Left behind\n');
    const leftOver = await schema('check', '--require-published');
    expect(leftOver.output).toContain('yet a publication is noted as pending ("Left behind"): remove the note');
    expect(leftOver.exitCode).toBe(1);
  });

  it('as a process, exits with 1 when the check fails, its JSON report alone on standard output', async () => {
    const original = await readFile(authSchema(), 'utf8');
    await writeFile(authSchema(), original.replace('  "Sign-in email, lower-cased."\n  email: String!\n', ''));

    const { exitCode, stdout, stderr } = await schemaProcess('check', '--json', '--graph', 'nexusflow');
    const report = JSON.parse(stdout) as { ok: boolean; changes: { path: string }[] };
    expect(report.ok).toBe(false);
    expect(report.changes.map((change) => change.path)).toContain('User.email');
    expect(stderr).toBe('');
    expect(exitCode).toBe(1);
  });

  it('answers a wrong command with its usage, once, and exit code 2', async () => {
    const { exitCode, output } = await schema('chekc');
    expect(output.split('Usage: schema <command> [options]')).toHaveLength(2);
    expect(exitCode).toBe(2);
  });

  it('answers an unknown option and usage options without --usage-days with what is wrong and exit code 2', async () => {
    const unknownOption = await schema('check', '--bogus');
    expect(unknownOption.output).toContain("Unknown option '--bogus'");
    expect(unknownOption.exitCode).toBe(2);

    const urlWithoutDays = await schema('check', '--usage-url', 'http://127.0.0.1:3006/graphql');
    expect(urlWithoutDays.output).toContain('--usage-url needs --usage-days <n>');
    expect(urlWithoutDays.exitCode).toBe(2);
  });

  it('publishes nothing when the working supergraph is published, and removes a pending-publication note left behind', async () => {
    const note = join(workspace.path, 'schema/nexusflow/pending-publication.yaml');
    await writeFile(note, 'reason: left behind by an earlier change\n');

    const { exitCode, output } = await schema('publish', '--graph', 'nexusflow', '-m', 'Again');

    expect(exitCode).toBe(0);
    expect(output).toMatch(
      /^Nothing to publish: the working supergraph is published version \d+\nRemoved schema\/nexusflow\/pending-publication\.yaml: nothing is pending$/,
    );
    await expect(readFile(note, 'utf8')).rejects.toThrow();
  });

  it('checks every graph with --usage-days, a graph without an analytics subgraph saying it has none to read', async () => {
    const { exitCode, output } = await schema('check', '--usage-days', '30');

    expect(output).toContain('Usage: the last 30 day(s), from no analytics subgraph');
    expect(exitCode).toBe(0);
  });

  it('answers a --registry or --operations folder that is not there with exit code 2, rather than reading it as empty', async () => {
    expect(await schema('check', '--graph', 'nexusflow', '--registry', 'schema/nexusflow/registyr')).toEqual({
      exitCode: 2,
      output: '--registry schema/nexusflow/registyr: no such folder',
    });
    expect(await schema('check', '--graph', 'nexusflow', '--operations', 'clients/webb')).toEqual({
      exitCode: 2,
      output: '--operations clients/webb: no such folder',
    });
  });
});
