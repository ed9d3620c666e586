import autocannon from 'autocannon';
import { percentile } from '../support.ts';

export interface LoadResult {
  requests: number;
  /** Responses per second over the measured window. */
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  /** Responses that were not 200 or whose body differed from the expected one. */
  failures: number;
  /**
   * CPU time the target process used per response (user and system, all its threads), where the target is a process
   * of the benchmark: a cost that holds on a machine shared with other work, where throughput does not.
   */
  cpuMsPerRequest?: number;
}

/**
 * A fixed number of connections each sending the same GraphQL request back to back for `seconds`
 * (closed-loop load, as the shared federation benchmark drives gateways). Every response is compared
 * with `expectBody` byte for byte, so a fast wrong answer counts as a failure, not as throughput.
 */
export async function runLoad(options: {
  url: string;
  body: string;
  expectBody: string;
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
  /** Requests per second across all connections (open-loop at that rate); unset: each connection sends back to back. */
  rate?: number;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let finish!: (result: autocannon.Result) => void;
  let fail!: (error: Error) => void;
  const finished = new Promise<autocannon.Result>((resolve, reject) => ((finish = resolve), (fail = reject)));
  const instance = autocannon(
    {
      url: options.url,
      method: 'POST',
      connections: options.connections,
      duration: options.seconds,
      headers: { 'content-type': 'application/json', ...options.headers },
      body: options.body,
      expectBody: options.expectBody,
      ...(options.rate ? { overallRate: options.rate } : {}),
    },
    (error, result) => (error ? fail(error as Error) : finish(result)),
  );
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => latencies.push(responseTime));
  const result = await finished;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    throughput: latencies.length / options.seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    failures: result.non2xx + result.errors + result.timeouts + (result.mismatches ?? 0),
  };
}
