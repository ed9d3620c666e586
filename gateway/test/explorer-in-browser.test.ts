import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { booleanFlagSchema, parseConfig } from '@nexusflow/kit/core';
import { postGraphQL } from '@nexusflow/kit/testing';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startStack, type Stack } from '../../test/support/stack.ts';
import { EXPLORER_DOCUMENT } from '../src/landing-page.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where GraphiQL keeps the query editor's text: the landing page's storage namespace, then GraphiQL's own. */
const QUERY_STORAGE_KEY = 'nexusflow-explorer:graphiql:query';
/** How long the page may take to show what a step expects: generous, as tests share two cores. */
const UI_PATIENCE = { timeout: 20_000, interval: 50 };
/** Four subgraphs on embedded PostgreSQL, their migrations, the gateway and Chromium. */
const STARTUP_PATIENCE_MS = 180_000;

/** CI installs Chromium and never skips; a developer without it may skip explicitly, and only explicitly. */
const browserTestEnvironment = parseConfig(
  z.object({
    CI: z
      .string()
      .optional()
      .transform((value) => value !== undefined && value !== 'false' && value !== '0'),
    SKIP_BROWSER_TESTS: booleanFlagSchema.optional(),
  }),
);
const skipped = browserTestEnvironment.SKIP_BROWSER_TESTS === true && !browserTestEnvironment.CI;
if (skipped) console.warn('Skipping the explorer browser test because SKIP_BROWSER_TESTS is set; CI always runs it.');

/** The README's first GraphQL example, the register mutation a new user pastes first. */
async function readmeRegisterMutation(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const example = /```graphql\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!example?.includes('register(')) throw new Error('README.md no longer starts its examples with the register mutation');
  return example;
}

interface CodeMirrorHost {
  CodeMirror: { getValue(): string; setCursor(position: { line: number; ch: number }): void; focus(): void };
}

/** GraphiQL as a person uses it: its editors, its buttons, what it shows. */
class Explorer {
  readonly queryEditor: Locator;
  readonly headersEditor: Locator;
  readonly response: Locator;

  constructor(readonly page: Page) {
    this.queryEditor = page.locator('.graphiql-query-editor .CodeMirror');
    this.headersEditor = page.locator('section[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror');
    this.response = page.locator('.result-window .CodeMirror');
  }

  static text(editor: Locator): Promise<string> {
    return editor.evaluate((element) => (element as unknown as CodeMirrorHost).CodeMirror.getValue());
  }

  /** Selects everything in the editor and pastes `text` over it. */
  async paste(editor: Locator, text: string): Promise<void> {
    await editor.click();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.insertText(text);
    await expect.poll(() => Explorer.text(editor), UI_PATIENCE).toBe(text);
    if (editor === this.queryEditor) await this.documentTaken(text);
  }

  /**
   * Waits until GraphiQL has read the query editor's new text: it learns the document's operations 100 ms after the
   * last keystroke, and a person who clicks ▶ sooner runs with the previous document's operations (or opens its menu).
   * It stores the text in the same step, so the stored copy says when.
   */
  private async documentTaken(text: string): Promise<void> {
    await expect.poll(() => this.page.evaluate((key) => localStorage.getItem(key), QUERY_STORAGE_KEY), UI_PATIENCE).toBe(text);
    await this.page.evaluate('new Promise((rendered) => requestAnimationFrame(rendered))');
  }

  async runWithButton(): Promise<void> {
    await this.page.locator('.graphiql-execute-button').click();
  }

  /** Puts the cursor on the line that starts `operation` and presses Ctrl-Enter, which runs the operation under the cursor. */
  async runOperationUnderCursor(operation: string): Promise<void> {
    const line = (await Explorer.text(this.queryEditor)).split('\n').findIndex((text) => text.startsWith(operation));
    expect(line, operation).toBeGreaterThanOrEqual(0);
    await this.queryEditor.evaluate(
      (element, position) => {
        const editor = (element as unknown as CodeMirrorHost).CodeMirror;
        editor.focus();
        editor.setCursor(position);
      },
      { line, ch: 0 },
    );
    await this.page.keyboard.press('ControlOrMeta+Enter');
  }

  /** The response pane once it shows a result that `accept` finds complete. */
  async responseWhere<T>(accept: (response: Record<string, unknown>) => T | undefined): Promise<T> {
    let accepted: T | undefined;
    await expect
      .poll(async () => {
        const text = await Explorer.text(this.response);
        accepted = text.trim().startsWith('{') ? accept(JSON.parse(text) as Record<string, unknown>) : undefined;
        return accepted !== undefined ? 'accepted' : text;
      }, UI_PATIENCE)
      .toBe('accepted');
    return accepted!;
  }
}

type Data = Record<string, Record<string, unknown> | undefined>;
const dataOf = (response: Record<string, unknown>) => response.data as Data | undefined;

describe.skipIf(skipped)(
  skipped ? 'the explorer in Chromium (skipped: SKIP_BROWSER_TESTS is set)' : 'the explorer in Chromium',
  { timeout: 60_000 },
  () => {
    let stack: Stack;
    let profile: string;
    let context: BrowserContext;
    let explorer: Explorer;
    const consoleErrors: string[] = [];
    const failedRequests: string[] = [];
    const requestsElsewhere: string[] = [];
    const webSocketFramesSent: string[] = [];
    let accessToken: string;

    beforeAll(async () => {
      await access(CHROMIUM).catch(() => {
        throw new Error(`Chromium is missing at ${CHROMIUM}: apt-get install -y chromium (or SKIP_BROWSER_TESTS=1 to skip outside CI)`);
      });
      stack = await startStack('embedded', 'explorer_browser');
      profile = await mkdtemp(join(tmpdir(), 'nexusflow-chromium-'));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1400, height: 1000 },
      });
      const page = context.pages()[0] ?? (await context.newPage());
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => consoleErrors.push(error.message));
      page.on('request', (request) => {
        const url = new URL(request.url());
        if (url.protocol !== 'data:' && url.host !== new URL(stack.gateway.url).host) requestsElsewhere.push(request.url());
      });
      page.on('requestfailed', (request) => failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
      page.on('response', (response) => {
        if (response.status() >= 400) failedRequests.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
      });
      page.on('websocket', (socket) => socket.on('framesent', (frame) => webSocketFramesSent.push(String(frame.payload))));
      explorer = new Explorer(page);
    }, STARTUP_PATIENCE_MS);

    afterAll(async () => {
      await context?.close();
      if (profile) await rm(profile, { recursive: true, force: true });
      await stack?.close();
    });

    it('opens with the schema docs loaded, no Authorization header, and the example operations', async () => {
      const introspection = explorer.page.waitForResponse(
        (response) => response.request().method() === 'POST' && response.url() === stack.gateway.graphqlUrl,
      );
      await explorer.page.goto(`${stack.gateway.url}/`);
      const introspected = (await (await introspection).json()) as { data?: { __schema?: unknown }; errors?: unknown };
      expect(introspected.errors).toBeUndefined();
      expect(introspected.data?.__schema).toBeDefined();

      await explorer.page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
      await expect
        .poll(() => explorer.page.locator('div:has(> .graphiql-doc-explorer-root-type)').allInnerTexts(), UI_PATIENCE)
        .toEqual(['query: Query', 'mutation: Mutation', 'subscription: Subscription']);

      expect(await Explorer.text(explorer.headersEditor)).toBe('{}');
      expect(await Explorer.text(explorer.queryEditor)).toBe(EXPLORER_DOCUMENT);
    });

    it("registers with the README's mutation, then runs { me { email } } with the token pasted into the headers", async () => {
      await explorer.paste(explorer.queryEditor, await readmeRegisterMutation());
      await explorer.runWithButton();
      accessToken = await explorer.responseWhere((response) => dataOf(response)?.register?.accessToken as string | undefined);

      await explorer.paste(explorer.headersEditor, JSON.stringify({ Authorization: `Bearer ${accessToken}` }));
      await explorer.paste(explorer.queryEditor, '{ me { email } }');
      await explorer.runWithButton();
      expect(await explorer.responseWhere((response) => dataOf(response)?.me)).toEqual({ email: 'ada@example.com' });
    });

    it("creates, runs and watches the example workflow live over WebSocket, signed in by the headers' token", async () => {
      await explorer.paste(explorer.queryEditor, EXPLORER_DOCUMENT);
      await explorer.runOperationUnderCursor('mutation CreateWorkflow');
      const workflowId = await explorer.responseWhere((response) => dataOf(response)?.createWorkflow?.id as string | undefined);

      await explorer.paste(explorer.queryEditor, EXPLORER_DOCUMENT.replace('<id from CreateWorkflow>', workflowId));
      await explorer.runOperationUnderCursor('mutation RunWorkflow');
      const executionId = await explorer.responseWhere((response) => dataOf(response)?.runWorkflow?.id as string | undefined);

      await explorer.paste(explorer.queryEditor, EXPLORER_DOCUMENT.replace('<id from RunWorkflow>', executionId));
      await explorer.runOperationUnderCursor('subscription WatchExecution');
      // The run waits in its delay step: the first update is its current state, sent as soon as the subscription starts.
      const snapshot = await explorer.responseWhere((response) => dataOf(response)?.executionUpdated);
      expect(snapshot).toMatchObject({ event: 'workflow.execution.snapshot', status: expect.stringMatching(/^(QUEUED|RUNNING)$/) });
      expect(JSON.parse(webSocketFramesSent[0]!)).toEqual({ type: 'connection_init', payload: { Authorization: `Bearer ${accessToken}` } });

      const cancelled = await postGraphQL(stack.gateway.graphqlUrl, 'mutation ($id: ID!) { cancelExecution(id: $id) { __typename } }', {
        token: accessToken,
        variables: { id: executionId },
      });
      expect(cancelled.data).toEqual({ cancelExecution: { __typename: 'Execution' } });
      const update = await explorer.responseWhere((response) => {
        const latest = dataOf(response)?.executionUpdated;
        return latest?.status === 'CANCELLED' ? latest : undefined;
      });
      expect(update).toMatchObject({ event: 'workflow.execution.cancelled' });
    });

    it('logged no console error, failed no request and asked nothing of any other host on the way', () => {
      expect(consoleErrors).toEqual([]);
      expect(failedRequests).toEqual([]);
      expect(requestsElsewhere).toEqual([]);
    });
  },
);
