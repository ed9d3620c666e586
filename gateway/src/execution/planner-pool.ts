import { Worker } from 'node:worker_threads';
import type { QueryPlan, QueryPlannerConfig } from '@apollo/query-planner';
import type { Logger } from '@nexusflow/kit/core';
import type { PlannerRequest, PlannerResponse } from './planner-protocol.ts';

export interface PlannerPoolOptions {
  /** Worker threads that plan; each holds its own copy of the supergraph. @default 1 */
  threads?: number;
  /** A plan that takes longer is abandoned and its worker replaced. @default 5000 */
  timeoutMs?: number;
  /** Plans waiting for a worker; more are refused at once rather than queued without bound. @default 256 */
  maxQueue?: number;
  /** Old-generation heap of each worker, in MB: a document that would exhaust it costs that worker only. @default 256 */
  heapMb?: number;
  plannerConfig?: QueryPlannerConfig;
  logger: Logger;
}

export type PlanningFailureReason = 'planner' | 'timeout' | 'out-of-memory' | 'overloaded' | 'closed' | 'superseded';

/** Why an operation has no plan: the planner refused it, or it cost more than a worker may spend on it. */
export class PlanningFailure extends Error {
  override readonly name = 'PlanningFailure';

  constructor(
    readonly reason: PlanningFailureReason,
    message: string,
  ) {
    super(message);
  }

  /** Whether the document itself is at fault (and the same document will fail again), not the moment. */
  get causedByDocument(): boolean {
    return this.reason === 'planner' || this.reason === 'timeout' || this.reason === 'out-of-memory';
  }
}

interface Job {
  request: Omit<Extract<PlannerRequest, { type: 'plan' }>, 'id'>;
  resolve: (plan: QueryPlan) => void;
  reject: (error: PlanningFailure) => void;
}

type LoadRequest = Extract<PlannerRequest, { type: 'load' }>;

const supersededFailure = () =>
  new PlanningFailure('superseded', 'The supergraph this operation was validated against is no longer served');

/** A supergraph the workers hold, and how many operations wait for or are being given a plan on it. */
interface RetainedSupergraph {
  load: LoadRequest;
  planning: number;
  /** Kept only for the plans under way on it: operations still waiting for it were refused, and new ones are. */
  refusing: boolean;
}

/**
 * Supergraphs older than the one before the current that the workers keep for operations waiting on them. Each costs
 * every worker a planner's memory, and `heapMb` is sized for two; beyond this, the oldest refuse the operations still
 * waiting for them (`superseded`, for the client to send again) and go once the plans under way on them are done.
 */
const MAX_SUPERSEDED_KEPT = 1;

interface PlannerThread {
  worker: Worker;
  /**
   * Supergraphs sent to it and not yet loaded. It is given no plan until this is 0: a plan's time limit is for planning,
   * and a worker starting (or building a new supergraph) on a loaded machine must not use it up, fail the plan and be
   * replaced by another that would do the same.
   */
  loading: number;
  job?: { id: number; job: Job; timer: NodeJS.Timeout };
  /** Set once the thread is being replaced, so that its exit is expected. */
  retired: boolean;
}

const WORKER_URL = new URL('./planner-worker.ts', import.meta.url);

/**
 * Plans operations on worker threads, one plan per thread at a time, so that planning never blocks the event loop
 * that serves every other request. A plan that outlives `timeoutMs`, or a worker that runs out of memory, fails
 * that one operation; the worker is replaced with a fresh one holding the same supergraphs.
 */
export class PlannerPool {
  private readonly threads: PlannerThread[] = [];
  private readonly queue: Job[] = [];
  private readonly options: Required<Omit<PlannerPoolOptions, 'plannerConfig'>> & { plannerConfig?: QueryPlannerConfig };
  /**
   * The supergraphs the workers hold, oldest first, and every new worker loads: the current one, the one before it
   * (for operations validated just before a switch), and any older one that an operation still waits to be planned
   * on, so that two reloads in quick succession fail no operation validated before them.
   */
  private readonly retained = new Map<number, RetainedSupergraph>();
  private nextJobId = 1;
  private generationCounter = 0;
  private closed = false;

  constructor(options: PlannerPoolOptions) {
    this.options = { threads: 1, timeoutMs: 5000, maxQueue: 256, heapMb: 256, ...options };
  }

  /** The generation of the latest supergraph; plan requests name the generation they were validated against. */
  get generation(): number {
    return this.generationCounter;
  }

  /** Makes `supergraphSdl` the supergraph new plans use; returns its generation. */
  load(supergraphSdl: string): number {
    const load: LoadRequest = {
      type: 'load',
      generation: ++this.generationCounter,
      supergraphSdl,
      ...(this.options.plannerConfig ? { plannerConfig: this.options.plannerConfig } : {}),
    };
    this.retained.set(load.generation, { load, planning: 0, refusing: false });
    if (this.threads.length === 0) {
      for (let i = 0; i < this.options.threads; i++) this.threads.push(this.spawn());
    } else {
      for (const thread of this.threads) {
        thread.loading += 1;
        thread.worker.postMessage(load);
      }
    }
    this.releaseUnused();
    return load.generation;
  }

  plan(request: Job['request']): Promise<QueryPlan> {
    if (this.closed) return Promise.reject(new PlanningFailure('closed', 'The gateway is shutting down'));
    if (this.queue.length >= this.options.maxQueue) {
      return Promise.reject(new PlanningFailure('overloaded', 'Too many operations are waiting to be planned'));
    }
    const supergraph = this.retained.get(request.generation);
    if (!supergraph || supergraph.refusing) {
      return Promise.reject(supersededFailure());
    }
    supergraph.planning += 1;
    const settled = () => {
      supergraph.planning -= 1;
      if (supergraph.planning === 0) this.releaseUnused();
    };
    return new Promise<QueryPlan>((resolve, reject) => {
      this.queue.push({
        request,
        resolve: (plan) => {
          settled();
          resolve(plan);
        },
        reject: (failure) => {
          settled();
          reject(failure);
        },
      });
      this.dispatch();
    });
  }

  /**
   * Lets the workers drop the supergraphs older than the one before the current once no operation waits for them, and
   * has those beyond {@link MAX_SUPERSEDED_KEPT} refuse the operations that still do.
   */
  private releaseUnused(): void {
    const superseded = [...this.retained.keys()].filter((generation) => generation < this.generationCounter - 1).sort((a, b) => a - b);
    for (const generation of superseded.slice(0, Math.max(0, superseded.length - MAX_SUPERSEDED_KEPT))) this.refuseWaiting(generation);
    for (const generation of superseded) {
      const supergraph = this.retained.get(generation);
      if (!supergraph || supergraph.planning > 0) continue;
      this.retained.delete(generation);
      for (const thread of this.threads) thread.worker.postMessage({ type: 'unload', generation } satisfies PlannerRequest);
    }
  }

  /** Refuses the operations waiting for a worker to plan them on `generation`, and any asked for it from now on. */
  private refuseWaiting(generation: number): void {
    const supergraph = this.retained.get(generation);
    if (!supergraph || supergraph.refusing) return;
    supergraph.refusing = true;
    const refused: Job[] = [];
    for (let index = this.queue.length - 1; index >= 0; index--) {
      if (this.queue[index]!.request.generation === generation) refused.unshift(...this.queue.splice(index, 1));
    }
    for (const job of refused) job.reject(supersededFailure());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new PlanningFailure('closed', 'The gateway is shutting down'));
    await Promise.all(
      this.threads.splice(0).map((thread) => {
        thread.retired = true;
        if (thread.job) {
          clearTimeout(thread.job.timer);
          // Cleared first: an answer the worker already sent must not settle the job a second time.
          const { job } = thread.job;
          thread.job = undefined;
          job.reject(new PlanningFailure('closed', 'The gateway is shutting down'));
        }
        return thread.worker.terminate();
      }),
    );
  }

  private spawn(): PlannerThread {
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: this.options.heapMb } });
    // A worker waiting for work must not keep the process alive on its own.
    worker.unref();
    const thread: PlannerThread = { worker, retired: false, loading: this.retained.size };
    for (const { load } of this.retained.values()) worker.postMessage(load);
    worker.on('message', (response: PlannerResponse) => this.settle(thread, response));
    worker.on('error', (error: Error & { code?: string }) => {
      const outOfMemory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.options.logger.warn(
        { err: error },
        outOfMemory ? 'a planner worker ran out of memory; replacing it' : 'a planner worker failed; replacing it',
      );
      this.replace(
        thread,
        outOfMemory ? new PlanningFailure('out-of-memory', 'Planning this operation takes more memory than the gateway allows') : undefined,
      );
    });
    worker.on('exit', () => {
      if (!thread.retired) this.replace(thread);
    });
    return thread;
  }

  private dispatch(): void {
    for (const thread of this.threads) {
      if (thread.job || thread.retired || thread.loading > 0) continue;
      const job = this.queue.shift();
      if (!job) return;
      const id = this.nextJobId++;
      const timer = setTimeout(() => {
        this.options.logger.warn(
          { timeoutMs: this.options.timeoutMs, operationName: job.request.operationName },
          'planning timed out; replacing the planner worker',
        );
        this.replace(thread, new PlanningFailure('timeout', `Planning this operation takes longer than ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      thread.job = { id, job, timer };
      thread.worker.ref();
      thread.worker.postMessage({ ...job.request, id } satisfies PlannerRequest);
    }
  }

  private settle(thread: PlannerThread, response: PlannerResponse): void {
    if ('loaded' in response) {
      thread.loading -= 1;
      this.dispatch();
      return;
    }
    const current = thread.job;
    if (!current || current.id !== response.id) return;
    clearTimeout(current.timer);
    thread.job = undefined;
    thread.worker.unref();
    if ('plan' in response) current.job.resolve(response.plan);
    else current.job.reject(new PlanningFailure('planner', response.error));
    this.dispatch();
  }

  /** Retires a thread (failing its job, if any, with `failure`) and starts a fresh one in its place. */
  private replace(thread: PlannerThread, failure = new PlanningFailure('planner', 'The planner failed on this operation')): void {
    if (thread.retired) return;
    thread.retired = true;
    if (thread.job) {
      clearTimeout(thread.job.timer);
      thread.job.job.reject(failure);
      thread.job = undefined;
    }
    void thread.worker.terminate();
    const index = this.threads.indexOf(thread);
    if (index >= 0 && !this.closed) this.threads[index] = this.spawn();
    this.dispatch();
  }
}
