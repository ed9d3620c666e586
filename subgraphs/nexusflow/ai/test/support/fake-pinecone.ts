import { type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, type LoopbackServer } from '@nexusflow/kit/testing';

type Scalar = string | number | boolean;
type Metadata = Record<string, Scalar | string[]>;

interface StoredVector {
  id: string;
  values: number[];
  metadata: Metadata;
}

/** Pinecone's metadata filter language: `$and`/`$or` of field conditions (`$eq`, `$ne`, `$in`, `$nin`, `$gt`, …). */
function matches(metadata: Metadata, filter: Record<string, unknown> | undefined): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([key, condition]) => {
    if (key === '$and') return (condition as Record<string, unknown>[]).every((part) => matches(metadata, part));
    if (key === '$or') return (condition as Record<string, unknown>[]).some((part) => matches(metadata, part));
    const value = metadata[key];
    // A bare value is shorthand for $eq.
    const operators = typeof condition === 'object' && condition !== null ? (condition as Record<string, unknown>) : { $eq: condition };
    return Object.entries(operators).every(([operator, operand]) => {
      switch (operator) {
        case '$eq':
          return Array.isArray(value) ? value.includes(operand as string) : value === operand;
        case '$ne':
          return value !== operand;
        case '$in':
          return (operand as Scalar[]).includes(value as Scalar);
        case '$nin':
          return !(operand as Scalar[]).includes(value as Scalar);
        case '$gt':
          return (value as number) > (operand as number);
        case '$gte':
          return (value as number) >= (operand as number);
        case '$lt':
          return (value as number) < (operand as number);
        case '$lte':
          return (value as number) <= (operand as number);
        default:
          throw new Error(`fake Pinecone does not know the filter operator ${operator}`);
      }
    });
  });
}

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    normA += a[i]! * a[i]!;
    normB += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(normA * normB);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * A Pinecone index's data plane (metric: cosine) as the official client calls it: `POST /vectors/upsert`, `POST /query`
 * and `POST /vectors/delete`, with namespaces, metadata filters and the `Api-Key` header. Vectors are kept in memory.
 */
export class FakePinecone {
  readonly namespaces = new Map<string, Map<string, StoredVector>>();
  readonly requests: { path: string; body: Record<string, unknown> }[] = [];
  private server: LoopbackServer | undefined;
  url = '';

  constructor(private readonly apiKey: string) {}

  async start(): Promise<this> {
    this.server = await listenOnLoopback((req, res) => void this.handle(req, res));
    this.url = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private namespace(name: unknown): Map<string, StoredVector> {
    const key = typeof name === 'string' ? name : '';
    let vectors = this.namespaces.get(key);
    if (!vectors) this.namespaces.set(key, (vectors = new Map()));
    return vectors;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.headers['api-key'] !== this.apiKey) return json(res, 401, { code: 16, message: 'Invalid API Key' });
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    this.requests.push({ path, body });
    if (req.method === 'POST' && path === '/vectors/upsert') return this.upsert(res, body);
    if (req.method === 'POST' && path === '/query') return this.query(res, body);
    if (req.method === 'POST' && path === '/vectors/delete') return this.delete(res, body);
    json(res, 404, { code: 5, message: `Not found: ${req.method} ${path}` });
  }

  private upsert(res: ServerResponse, body: Record<string, unknown>): void {
    const vectors = this.namespace(body.namespace);
    const records = body.vectors as StoredVector[];
    for (const record of records) vectors.set(record.id, { id: record.id, values: record.values, metadata: record.metadata ?? {} });
    json(res, 200, { upsertedCount: records.length });
  }

  private query(res: ServerResponse, body: Record<string, unknown>): void {
    const vector = body.vector as number[];
    const filter = body.filter as Record<string, unknown> | undefined;
    const ranked = [...this.namespace(body.namespace).values()]
      .filter((stored) => stored.values.length === vector.length && matches(stored.metadata, filter))
      .map((stored) => ({ stored, score: cosine(stored.values, vector) }))
      .sort((a, b) => b.score - a.score || (a.stored.id < b.stored.id ? -1 : 1))
      .slice(0, body.topK as number);
    json(res, 200, {
      namespace: body.namespace ?? '',
      matches: ranked.map(({ stored, score }) => ({
        id: stored.id,
        score,
        values: body.includeValues ? stored.values : [],
        ...(body.includeMetadata ? { metadata: stored.metadata } : {}),
      })),
      usage: { readUnits: 1 },
    });
  }

  private delete(res: ServerResponse, body: Record<string, unknown>): void {
    const vectors = this.namespace(body.namespace);
    if (body.deleteAll) vectors.clear();
    for (const id of (body.ids as string[] | undefined) ?? []) vectors.delete(id);
    if (body.filter) {
      for (const stored of [...vectors.values()]) {
        if (matches(stored.metadata, body.filter as Record<string, unknown>)) vectors.delete(stored.id);
      }
    }
    json(res, 200, {});
  }
}
