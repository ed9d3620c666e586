import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RouteHandler } from '@nexusflow/kit/core';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** Served from node_modules, never a CDN: the explorer works offline and leaks nothing to third parties. */
const assets: Record<string, { file: string; type: string }> = {
  'react.production.min.js': { file: join(packageDir('react'), 'umd/react.production.min.js'), type: 'text/javascript' },
  'react-dom.production.min.js': { file: join(packageDir('react-dom'), 'umd/react-dom.production.min.js'), type: 'text/javascript' },
  'graphiql.min.js': { file: join(packageDir('graphiql'), 'graphiql.min.js'), type: 'text/javascript' },
  'graphiql.min.css': { file: join(packageDir('graphiql'), 'graphiql.min.css'), type: 'text/css' },
};

const ASSET_PREFIX = '/graphiql/';

function page(graphqlPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>NexusFlow Supergraph</title>
  <link rel="stylesheet" href="${ASSET_PREFIX}graphiql.min.css">
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading the NexusFlow explorer…</div>
  <script src="${ASSET_PREFIX}react.production.min.js"></script>
  <script src="${ASSET_PREFIX}react-dom.production.min.js"></script>
  <script src="${ASSET_PREFIX}graphiql.min.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({ url: new URL(${JSON.stringify(graphqlPath)}, location.href).toString() });
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultEditorToolsVisibility: true,
        defaultHeaders: JSON.stringify({ Authorization: 'Bearer <access token from login>' }, null, 2),
        defaultQuery: '# Sign in with the login mutation, then put its accessToken in the Authorization header below.\\nquery Me {\\n  me { id email name roles tenant { name } }\\n}\\n',
      }),
    );
  </script>
</body>
</html>`;
}

const cache = new Map<string, Buffer>();

/** GraphiQL at `/` and at the GraphQL path for browsers (requests that accept HTML). */
export function landingPage(graphqlPath: string): RouteHandler {
  const html = page(graphqlPath);
  return async (req, res, url) => {
    if (req.method !== 'GET') return false;
    if (url.pathname.startsWith(ASSET_PREFIX)) {
      const asset = assets[url.pathname.slice(ASSET_PREFIX.length)];
      if (!asset) return false;
      let body = cache.get(asset.file);
      if (!body) cache.set(asset.file, (body = await readFile(asset.file)));
      res.writeHead(200, { 'content-type': `${asset.type}; charset=utf-8`, 'cache-control': 'public, max-age=86400' });
      res.end(body);
      return true;
    }
    const wantsHtml = (req.headers.accept ?? '').includes('text/html');
    if (url.pathname === '/' || (url.pathname === graphqlPath && wantsHtml && !url.searchParams.has('query'))) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:" });
      res.end(html);
      return true;
    }
    return false;
  };
}
