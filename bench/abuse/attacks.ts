import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import WebSocket from 'ws';

/**
 * A request body whose document is new to the gateway every time (a random comment first), so that no verdict,
 * document or plan cache ever recognises it; the rest of the body is serialised once, so that the load generator
 * spends next to nothing per request.
 */
function freshBody(query: string, rest = ''): () => string {
  const escaped = JSON.stringify(query).slice(1);
  return () => `{"query":"# ${randomBytes(8).toString('hex')}\\n${escaped}${rest}}`;
}

function doublingFragments(levels: number, aliases: boolean): string {
  let fragments = 'fragment L0 on User { id name }\n';
  for (let level = 1; level <= levels; level++) {
    fragments += aliases
      ? `fragment L${level} on User { a: reviews { author { ...L${level - 1} } } b: reviews { author { ...L${level - 1} } } }\n`
      : `fragment L${level} on User { ...L${level - 1} ...L${level - 1} }\n`;
  }
  return `{ me { ...L${levels} } }\n${fragments}`;
}

/** Each attack: the request body it sends (fresh every time) and the code it must be refused with. */
export const ATTACKS: { name: string; body: () => string; expect: string }[] = [
  { name: 'doubling fragments, 12 levels (1.7 KB)', body: freshBody(doublingFragments(12, true)), expect: 'MAX_DEPTH_LIMIT' },
  { name: 'doubling fragments, no nesting, 30 levels', body: freshBody(doublingFragments(30, false)), expect: 'MAX_FIELDS_LIMIT' },
  {
    name: '10,000 aliases',
    body: freshBody(`{ ${Array.from({ length: 10_000 }, (_, i) => `a${i}: __typename`).join(' ')} }`),
    expect: 'MAX_TOKENS_LIMIT',
  },
  { name: '1 MB of tokens', body: freshBody(`{ ${'me '.repeat(330_000)}}`), expect: 'MAX_TOKENS_LIMIT' },
  {
    name: 'nesting 200 levels',
    body: freshBody(`{ me { ${'reviews { author { '.repeat(100)}id${' } }'.repeat(100)} } }`),
    expect: 'MAX_DEPTH_LIMIT',
  },
  {
    name: '600 directives on a field',
    body: freshBody(`{ __typename ${'@include(if: true) '.repeat(600)}}`),
    expect: 'MAX_DIRECTIVES_LIMIT',
  },
  {
    name: 'variables nested 20,000 levels',
    body: freshBody('query ($n: Int) { topProducts(first: $n) { upc } }', `,"variables":{"n":${'['.repeat(20_000)}1${']'.repeat(20_000)}}`),
    expect: 'BAD_USER_INPUT',
  },
  {
    name: 'cost bomb within the document limits',
    body: freshBody('{ topProducts(first: 100000) { reviews { author { reviews { product { reviews { body } } } } } } }'),
    expect: 'COST_ESTIMATED_TOO_EXPENSIVE',
  },
  {
    name: 'costly to plan, within every limit',
    body: freshBody(
      `{ ${Array.from({ length: 18 }, (_, i) => `p${i}: topProducts(first: 1) { upc shippingEstimate reviews { author { username } } }`).join(' ')} }`,
    ),
    expect: 'none: answered',
  },
];

export interface AttackStats {
  latencies: number[];
  /** Refused with 503 while the gateway was shedding load. */
  shed: number;
  wrongAnswers: number;
}

/** `attackers` connections sending abusive documents back to back over HTTP, and one over WebSocket, until `until`. */
export async function flood(url: string, until: number, attackers: number) {
  const stats = new Map<string, AttackStats>(ATTACKS.map((attack) => [attack.name, { latencies: [], shed: 0, wrongAnswers: 0 }]));
  const pool = new Pool(new URL(url).origin, { connections: attackers });
  const path = new URL(url).pathname;
  let next = 0;
  const attacker = async () => {
    while (performance.now() < until) {
      const attack = ATTACKS[next++ % ATTACKS.length]!;
      const started = performance.now();
      const stat = stats.get(attack.name)!;
      let response;
      let text;
      try {
        response = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body: attack.body() });
        text = await response.body.text();
      } catch {
        // A large body refused unread: the gateway answered 503 and closed the connection while the body was still going.
        stat.latencies.push(performance.now() - started);
        stat.shed++;
        continue;
      }
      stat.latencies.push(performance.now() - started);
      const shed = response.statusCode === 503 && text.includes('"SERVICE_UNAVAILABLE"');
      const answered = attack.expect.startsWith('none')
        ? response.statusCode === 200 && !text.includes('"errors"')
        : response.statusCode === 400 && text.includes(`"${attack.expect}"`);
      if (shed) stat.shed++;
      else if (!answered) stat.wrongAnswers++;
    }
  };
  let websocketMessages = 0;
  const websocket = async () => {
    while (performance.now() < until) {
      const socket = new WebSocket(url.replace('http', 'ws'), 'graphql-transport-ws');
      await new Promise<void>((resolve) => {
        let id = 0;
        const send = () => {
          if (performance.now() >= until || socket.readyState !== WebSocket.OPEN) return socket.close();
          const attack = ATTACKS[id % ATTACKS.length]!;
          // Written out rather than stringified: the deepest variables are too deep for JSON.stringify.
          socket.send(`{"id":"${++id}","type":"subscribe","payload":${attack.body()}}`);
        };
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
        socket.on('message', (data) => {
          const message = JSON.parse(String(data)) as { type: string };
          if (message.type === 'connection_ack' || message.type === 'error' || message.type === 'complete') {
            if (message.type !== 'connection_ack') websocketMessages++;
            send();
          }
        });
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
    }
  };
  await Promise.all([...Array.from({ length: attackers }, attacker), websocket()]);
  await pool.close();
  return { stats, websocketMessages };
}
