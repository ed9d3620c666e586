import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RouteHandler } from '@nexusflow/kit/core';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/**
 * The document the explorer opens with: the whole product in the order a new user tries it, each
 * operation named so that GraphiQL runs the one under the cursor. A plain-text placeholder stands
 * where an id from an earlier result goes, so that the document validates and says what to paste.
 */
export const EXPLORER_DOCUMENT = `# Welcome to the NexusFlow supergraph. The Docs (book icon, top left) and
# autocomplete (Ctrl-Space) come from the schema. Run the operation under the cursor
# with Ctrl-Enter (Cmd-Enter on a Mac), or pick one from the ▶ button.
#
# 1. Run Register (or Login, once you have an account) and copy its accessToken.
# 2. In the Headers tab below, replace {} with
#      {"Authorization": "Bearer <accessToken>"}
#    Every operation then runs as you; subscriptions send these headers over the
#    WebSocket too. Headers are not saved: paste the token again after a reload.
#    Access tokens last 15 minutes: run Login again when UNAUTHENTICATED comes back.
# 3. Run Me, then CreateWorkflow. Paste the workflow's id into RunWorkflow and run
#    it, then paste the execution's id into WatchExecution and run that within 30
#    seconds: its updates arrive live as the run waits, then finishes (■ stops it).

mutation Register {
  register(input: { email: "ada@example.com", password: "correct horse battery", name: "Ada", tenantName: "Acme" }) {
    ... on AuthSession { accessToken refreshToken }
    ... on UserError { message }
  }
}

mutation Login {
  login(input: { email: "ada@example.com", password: "correct horse battery" }) {
    ... on AuthSession { accessToken refreshToken }
    ... on UserError { message }
  }
}

query Me {
  me { id email name roles tenant { name } }
}

mutation CreateWorkflow {
  createWorkflow(input: {
    name: "Hello, NexusFlow"
    steps: [
      { key: "wait", type: "delay", config: { durationMs: 30000 } }
      { key: "greet", type: "transform", config: { template: { greeting: "Hello from NexusFlow" } } }
    ]
  }) {
    ... on Workflow { id name version }
    ... on WorkflowError { message }
  }
}

mutation RunWorkflow {
  runWorkflow(id: "<id from CreateWorkflow>") {
    ... on Execution { id status }
    ... on WorkflowError { message }
  }
}

subscription WatchExecution {
  executionUpdated(id: "<id from RunWorkflow>") {
    event revision status stepKey error occurredAt
  }
}
`;

/** Where the explorer keeps its tabs in the browser; its own, so that tabs of another explorer on the same origin never hide the examples. */
const STORAGE_NAMESPACE = 'nexusflow-explorer';

/**
 * Runs in the browser. Subscriptions go over WebSocket (graphql-transport-ws) to the GraphQL URL, with
 * the headers typed in the Headers tab as the `connection_init` payload, where the gateway reads
 * `authorization`; GraphiQL's bundle carries the graphql-ws client.
 */
function explorerScript(graphqlPath: string): string {
  return `'use strict';
const graphqlUrl = new URL(${JSON.stringify(graphqlPath)}, location.href);
const subscriptionUrl = new URL(graphqlUrl);
subscriptionUrl.protocol = graphqlUrl.protocol === 'https:' ? 'wss:' : 'ws:';
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: graphqlUrl.href, subscriptionUrl: subscriptionUrl.href }),
    storage: GraphiQL.createLocalStorage({ namespace: ${JSON.stringify(STORAGE_NAMESPACE)} }),
    defaultQuery: ${JSON.stringify(EXPLORER_DOCUMENT)},
    defaultHeaders: '{}',
    defaultEditorToolsVisibility: 'headers',
  }),
);
`;
}

const ASSET_PREFIX = '/graphiql/';

/**
 * Scripts only from the gateway itself, never inline. GraphiQL sets inline styles and its stylesheet
 * embeds its fonts as data: URLs; the WebSocket goes to this same origin, which 'self' covers.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function page(): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>NexusFlow Supergraph explorer</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="${ASSET_PREFIX}graphiql.min.css">
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading the NexusFlow explorer…</div>
  <script src="${ASSET_PREFIX}react.production.min.js"></script>
  <script src="${ASSET_PREFIX}react-dom.production.min.js"></script>
  <script src="${ASSET_PREFIX}graphiql.min.js"></script>
  <script src="${ASSET_PREFIX}explorer.js"></script>
</body>
</html>`;
}

interface Asset {
  type: string;
  load(): Promise<Buffer>;
  cacheControl: string;
}

/** Read once, on first request. A package's files only change with an upgrade, so browsers may keep them a day. */
const fromPackage = (name: string, file: string, type: string): Asset => {
  let body: Promise<Buffer> | undefined;
  return { type, load: () => (body ??= readFile(join(packageDir(name), file))), cacheControl: 'public, max-age=86400' };
};

/** GraphiQL at `/` and at the GraphQL path for browsers (requests that accept HTML), every asset from node_modules: it works offline and leaks nothing to a CDN. */
export function landingPage(graphqlPath: string): RouteHandler {
  const html = page();
  const script = Buffer.from(explorerScript(graphqlPath));
  const assets = new Map<string, Asset>([
    ['react.production.min.js', fromPackage('react', 'umd/react.production.min.js', 'text/javascript')],
    ['react-dom.production.min.js', fromPackage('react-dom', 'umd/react-dom.production.min.js', 'text/javascript')],
    ['graphiql.min.js', fromPackage('graphiql', 'graphiql.min.js', 'text/javascript')],
    ['graphiql.min.css', fromPackage('graphiql', 'graphiql.min.css', 'text/css')],
    // Revalidated on every load: the examples change with the gateway, not with a package.
    ['explorer.js', { type: 'text/javascript', load: async () => script, cacheControl: 'no-cache' }],
  ]);
  return async (req, res, url) => {
    if (req.method !== 'GET') return false;
    if (url.pathname.startsWith(ASSET_PREFIX)) {
      const asset = assets.get(url.pathname.slice(ASSET_PREFIX.length));
      if (!asset) return false;
      const body = await asset.load();
      res.writeHead(200, {
        'content-type': `${asset.type}; charset=utf-8`,
        'cache-control': asset.cacheControl,
        'x-content-type-options': 'nosniff',
      });
      res.end(body);
      return true;
    }
    const wantsHtml = (req.headers.accept ?? '').includes('text/html');
    if (url.pathname === '/' || (url.pathname === graphqlPath && wantsHtml && !url.searchParams.has('query'))) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
      });
      res.end(html);
      return true;
    }
    return false;
  };
}
