import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { SocketSpec, StormCounts, StormKind, StormResumes, TargetKind, WorkerProgress, WorkerReady, WorkerReply, WorkerRequest } from '../load/messages.js';
import { ROOT, TYPESCRIPT_LOADER, forkChild, stopChild } from './children.js';

type Pending = { resolve(reply: WorkerReply): void; reject(error: Error): void };
type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** One forked client worker and its request/reply bookkeeping. */
class Worker {
  readonly pending = new Map<number, Pending>();
  /** What the worker last reported it has received, per socket set. */
  progress: Record<string, number> = {};
  private nextId = 1;
  readonly ready: Promise<void>;

  constructor(readonly child: ChildProcess) {
    this.ready = new Promise((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`client worker exited before it was ready (${code ?? signal})`)));
      child.on('message', (message: WorkerReply | WorkerProgress | WorkerReady) => {
        if (message.op === 'ready') return resolve();
        if (message.op === 'progress') {
          this.progress = message.counts;
          return;
        }
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        if (message.op === 'error') pending.reject(new Error(`client worker: ${message.message}`));
        else pending.resolve(message);
      });
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`client worker exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T extends WorkerReply['op']>(request: Request & { op: T }): Promise<Extract<WorkerReply, { op: T }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (reply: WorkerReply) => void, reject });
      this.child.send({ ...request, id });
    });
  }
}

/** What opening a set of sockets across the workers came to. */
export interface OpenResult {
  opened: number;
  failed: number;
  firstError?: string;
  /** Wall time from the first request to the last worker's answer. */
  ms: number;
}

/**
 * The load generator's client side: `count` worker processes sharing the sockets round robin.
 * Progress listeners fire whenever a worker reports new counts (the harness's flow control).
 */
export class ClientPool {
  private readonly workers: Worker[];
  private readonly listeners = new Set<() => void>();

  private constructor(
    workers: Worker[],
    /** Source addresses the sockets take in turn; the kernel's choice (127.0.0.1) when empty. */
    private readonly sourceAddresses: string[],
  ) {
    this.workers = workers;
    for (const w of workers) w.child.on('message', (m: { op: string }) => m.op === 'progress' && this.notify());
  }

  /**
   * `openFiles`: sockets (files) each worker must be able to hold. `sourceAddresses`: the sockets take
   * them in turn, for more sockets to one server than one address has ephemeral ports.
   */
  static async start(count: number, options: { openFiles?: number; sourceAddresses?: string[] } = {}): Promise<ClientPool> {
    const file = path.join(ROOT, 'bench', 'load', 'client-worker.ts');
    const workers = Array.from({ length: count }, () => new Worker(forkChild(file, { execArgv: TYPESCRIPT_LOADER, openFiles: options.openFiles })));
    await Promise.all(workers.map((w) => w.ready));
    return new ClientPool(workers, options.sourceAddresses ?? []);
  }

  get size(): number {
    return this.workers.length;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  /** Opens `sockets` to a target, spread over the workers, `concurrency` connects in flight in total. */
  async open(set: string, kind: TargetKind, baseUrl: string, origin: string, sockets: SocketSpec[], concurrency: number, timeoutMs = 30_000): Promise<OpenResult> {
    const started = performance.now();
    const shares = this.shares(sockets);
    const lanes = this.lanes(concurrency);
    const replies = await Promise.all(
      this.workers.map((w, i) =>
        w.request({ op: 'open', set, kind, baseUrl, origin, sockets: shares[i]!, concurrency: lanes, timeoutMs, ...(this.sourceAddresses.length > 0 ? { localAddresses: this.sourceAddresses } : {}) }),
      ),
    );
    return openResult(replies, started);
  }

  /** Storm: reconnecting clients (livetail's SDK, or bare ws with its backoff), spread over the workers. */
  async stormOpen(set: string, kind: StormKind, baseUrl: string, origin: string, sockets: SocketSpec[], concurrency: number, timeoutMs = 60_000): Promise<OpenResult> {
    const started = performance.now();
    const shares = this.shares(sockets);
    const lanes = this.lanes(concurrency);
    const replies = await Promise.all(this.workers.map((w, i) => w.request({ op: 'storm-open', set, kind, baseUrl, origin, sockets: shares[i]!, concurrency: lanes, timeoutMs })));
    return openResult(replies, started);
  }

  /** Storm: the next loss and recovery of each client's connection counts. Resolves with the clients armed. */
  async stormArm(set: string): Promise<number> {
    const replies = await Promise.all(this.workers.map((w) => w.request({ op: 'storm-arm', set })));
    return replies.reduce((s, r) => s + r.clients, 0);
  }

  /** Storm: waits until every client resumed (or `timeoutMs`); when each did, and after how many attempts. */
  async stormWait(set: string, timeoutMs: number): Promise<StormResumes> {
    const replies = await Promise.all(this.workers.map((w) => w.request({ op: 'storm-wait', set, timeoutMs })));
    return {
      clients: replies.reduce((s, r) => s + r.clients, 0),
      resumed: replies.reduce((s, r) => s + r.resumed, 0),
      resumedAt: concat(replies.map((r) => r.resumedAt)),
      attempts: concat(replies.map((r) => r.attempts)),
    };
  }

  /** Storm: every client's deliveries against the ids the store holds for its user. */
  async stormVerify(set: string, expected: Record<string, string[]>): Promise<StormCounts> {
    const replies = await Promise.all(this.workers.map((w) => w.request({ op: 'storm-verify', set, expected })));
    const sum = (key: 'clients' | 'lost' | 'doubled' | 'notStored' | 'outOfOrder' | 'clientsWithProblems') => replies.reduce((s, r) => s + r[key], 0);
    return {
      clients: sum('clients'),
      lost: sum('lost'),
      doubled: sum('doubled'),
      notStored: sum('notStored'),
      outOfOrder: sum('outOfOrder'),
      clientsWithProblems: sum('clientsWithProblems'),
      firstProblem: replies.find((r) => r.firstProblem)?.firstProblem,
    };
  }

  async stormClose(set: string): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ op: 'storm-close', set })));
  }

  /** The sockets each worker takes: round robin, so a user's sockets spread over the workers. */
  private shares<T>(sockets: T[]): T[][] {
    return this.workers.map((_, i) => sockets.filter((_, j) => j % this.workers.length === i));
  }

  private lanes(concurrency: number): number {
    return Math.max(1, Math.round(concurrency / this.workers.length));
  }

  /** Closes a set's sockets with a close handshake, or cuts them at once (`terminate`: tearing a stage down). */
  async close(set: string, options: { timeoutMs?: number; terminate?: boolean } = {}): Promise<void> {
    const { timeoutMs = 10_000, terminate } = options;
    await Promise.all(this.workers.map((w) => w.request({ op: 'close', set, timeoutMs, terminate })));
  }

  /** Messages received so far by the set's sockets, asked of every worker now. */
  async received(set: string): Promise<{ count: number; messageBytes: number }> {
    const replies = await Promise.all(this.workers.map((w) => w.request({ op: 'counts' })));
    return {
      count: replies.reduce((s, r) => s + (r.counts[set] ?? 0), 0),
      messageBytes: Math.max(0, ...replies.map((r) => r.bytes[set] ?? 0)),
    };
  }

  /** The last pushed counts (a few ms old at most): cheap enough to read on every flow-control decision. */
  reportedReceived(set: string): number {
    let n = 0;
    for (const w of this.workers) n += w.progress[set] ?? 0;
    return n;
  }

  /** Starts or stops recording latencies; returns what was recorded since the last call. */
  async latency(set: string, recording: boolean): Promise<Float64Array> {
    const replies = await Promise.all(this.workers.map((w) => w.request({ op: 'latency', set, recording })));
    return concat(replies.map((r) => r.samples));
  }

  onProgress(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => stopChild(w.child, 2000)));
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

function openResult(replies: Array<{ opened: number; failed: number; firstError?: string }>, started: number): OpenResult {
  return {
    opened: replies.reduce((s, r) => s + r.opened, 0),
    failed: replies.reduce((s, r) => s + r.failed, 0),
    firstError: replies.find((r) => r.firstError)?.firstError,
    ms: performance.now() - started,
  };
}

function concat(parts: Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}
