import { randomUUID } from 'node:crypto';
import { Backoff } from '../client/backoff.js';
import { Emitter } from '../client/emitter.js';
import type { LogEntryInput } from '../protocol/log-entry.js';
import { EntryQueue, type QueuedEntry } from './entry-queue.js';
import { type PublisherOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { postBatch } from './post-batch.js';
import { PublisherError, type PublisherErrorCode } from './publisher-error.js';

/** What the publisher reports. Listeners that throw do not disturb it (see Emitter). */
export interface PublisherEvents {
  /** A batch was taken by the server: how many entries, after how many attempts, and the server's answer (`{ "logs": [...] }`). */
  sent: { count: number; attempts: number; status: number; body: string };
  /** A batch failed an attempt and will be sent again after `delayMs`. */
  retry: { count: number; attempt: number; delayMs: number; reason: string; status?: number };
  /** Entries dropped without being sent: the queue was full (the oldest go), or close() ran out of time. */
  dropped: { count: number; reason: 'queue-full' | 'close'; total: number };
  /** Entries that will not be delivered (refused by publish() or by the server, or retries ran out). */
  error: PublisherError;
}

/** Counters since the publisher was created. */
export interface PublisherStats {
  /** Entries publish() accepted. */
  published: number;
  /** Entries the server took (201). */
  sent: number;
  /** Entries the server refused or that ran out of retries. */
  failed: number;
  /** Entries dropped unsent: queue full (oldest first) or close() out of time. */
  dropped: number;
  /** Entries publish() refused (invalid, too large, after close). */
  rejected: number;
  /** Attempts that were retried. */
  retries: number;
  /** Entries waiting now (the batch in flight not included), and their bytes. */
  queued: number;
  queuedBytes: number;
}

/** An entry as published: a log entry input naming its owner (`userId` is required with the service token). */
export type PublishedEntry = LogEntryInput;

/**
 * Ships log entries to livetail's `POST /api/logs` from another process: batched, retried, bounded.
 *
 * - publish() never blocks nor throws: it serializes the entry, queues it and returns (false, with an
 *   `error` event, when it refuses the entry).
 * - A batch goes when it holds `maxBatchEntries` entries or `maxBatchBytes`, or once its oldest entry
 *   waited `flushIntervalMs`. One POST at a time, so entries arrive in publish order.
 * - Network errors, 5xx and 429 are retried with full-jitter backoff, never sooner than Retry-After; each
 *   batch carries a fresh `Idempotency-Key`, the same on each of its retries. Other 4xx are not retried:
 *   a 400 naming entries fails those and sends the rest again (a new key: a new body), 413 splits the
 *   batch in halves, anything else (401, 403, 422…) fails the batch.
 * - Past `maxQueueEntries` / `maxQueueBytes` the oldest waiting entries are dropped and counted.
 * - close() stops taking entries and delivers what is left within `closeTimeoutMs`; idempotent.
 */
export class Publisher extends Emitter<PublisherEvents> {
  private readonly options: ResolvedOptions;
  private readonly queue: EntryQueue;
  private readonly counters = { published: 0, sent: 0, failed: 0, dropped: 0, rejected: 0, retries: 0 };
  /** Cancels sleeps and requests when close() runs out of time. */
  private readonly abort = new AbortController();
  private seq = 0;
  /** The first entry of the batch being delivered that is not settled yet. */
  private pendingFrom: number | undefined;
  /** Entries up to this seq are due now (flush() or close() asked). */
  private flushThrough = 0;
  private flushWaiters: Array<{ seq: number; resolve: () => void }> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: PublisherOptions) {
    super();
    this.options = resolveOptions(options);
    this.queue = new EntryQueue(this.options.maxQueueEntries, this.options.maxQueueBytes);
  }

  get stats(): PublisherStats {
    return { ...this.counters, queued: this.queue.length, queuedBytes: this.queue.bytes };
  }

  /** Entries dropped unsent so far (the `dropped` events' total). */
  get dropped(): number {
    return this.counters.dropped;
  }

  /** Queues an entry. Returns false (and emits `error`) when it is refused; never throws. */
  publish(entry: PublishedEntry): boolean {
    if (this.closed) return this.refuse('CLOSED', 'The publisher is closed');
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return this.refuse('INVALID_ENTRY', 'An entry must be an object');
    if (this.options.token !== undefined && (typeof entry.userId !== 'string' || entry.userId === '')) {
      return this.refuse('INVALID_ENTRY', 'The entry must name its userId: the service token acts for every user');
    }
    let json: string;
    try {
      json = JSON.stringify(entry);
    } catch (error) {
      return this.refuse('INVALID_ENTRY', `The entry cannot be serialized: ${(error as Error).message}`);
    }
    const bytes = Buffer.byteLength(json);
    if (bytes > this.options.maxBatchBytes) return this.refuse('ENTRY_TOO_LARGE', `The entry is ${bytes} bytes serialized; maxBatchBytes is ${this.options.maxBatchBytes}`);
    this.counters.published++;
    const dropped = this.queue.push({ json, bytes, at: this.options.now(), seq: ++this.seq });
    if (dropped.length > 0) this.drop(dropped.length, 'queue-full');
    this.schedule();
    return true;
  }

  /** Sends everything published so far without waiting for the linger; resolves once each of those entries is delivered, failed or dropped. */
  flush(): Promise<void> {
    const seq = this.seq;
    if (this.lowestUnsettled() > seq) return Promise.resolve();
    this.flushThrough = Math.max(this.flushThrough, seq);
    return new Promise((resolve) => {
      this.flushWaiters.push({ seq, resolve });
      this.schedule();
    });
  }

  /**
   * Stops taking entries (publish() returns false), delivers what is left, and resolves when done or
   * after `closeTimeoutMs`, dropping what is still unsent then (`dropped`, reason `close`). Idempotent.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const deadline = setTimeout(() => this.abort.abort(), this.options.closeTimeoutMs);
    try {
      await this.flush();
    } finally {
      clearTimeout(deadline);
      clearTimeout(this.timer);
    }
  }

  private refuse(code: PublisherErrorCode, message: string): false {
    this.counters.rejected++;
    this.emit('error', new PublisherError(code, message, 1));
    return false;
  }

  private drop(count: number, reason: 'queue-full' | 'close'): void {
    this.counters.dropped += count;
    this.emit('dropped', { count, reason, total: this.counters.dropped });
    this.settleWaiters();
  }

  /** Starts sending if a batch is due, or arms the linger timer for the oldest waiting entry. */
  private schedule(): void {
    if (this.running) return; // the loop looks again after its POST
    const head = this.queue.peek();
    if (!head) return;
    if (this.due(head)) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.run();
    } else if (this.timer === undefined) {
      const wait = Math.max(0, head.at + this.options.flushIntervalMs - this.options.now());
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
    }
  }

  private due(head: QueuedEntry): boolean {
    const o = this.options;
    return (
      this.queue.length >= o.maxBatchEntries ||
      this.queue.bytes >= o.maxBatchBytes ||
      head.seq <= this.flushThrough ||
      this.abort.signal.aborted ||
      o.now() - head.at >= o.flushIntervalMs
    );
  }

  /** Sends due batches one after another. Never rejects: every failure is settled as an event. */
  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let head = this.queue.peek(); head && this.due(head); head = this.queue.peek()) {
        if (this.abort.signal.aborted) {
          this.drop(this.queue.drain().length, 'close');
          break;
        }
        const batch = this.queue.take(this.options.maxBatchEntries, this.options.maxBatchBytes);
        this.pendingFrom = batch[0]!.seq;
        await this.send(batch);
        this.pendingFrom = undefined;
        this.settleWaiters();
      }
    } finally {
      this.running = false;
    }
    this.schedule();
  }

  /** Delivers one batch (with its own idempotency key), retrying as the answer allows; settles every entry of it. */
  private async send(batch: QueuedEntry[]): Promise<void> {
    const o = this.options;
    const idempotencyKey = randomUUID();
    const body = `{"logs":[${batch.map((e) => e.json).join(',')}]}`;
    const backoff = new Backoff(o.retry, o.random, o.now);
    const started = o.now();
    for (let attempt = 1; ; attempt++) {
      if (this.abort.signal.aborted) return this.settle(batch, () => this.drop(batch.length, 'close'));
      const outcome = await postBatch({ endpoint: o.endpoint, headers: o.headers, body, idempotencyKey, timeoutMs: o.requestTimeoutMs, signal: this.abort.signal, fetch: o.fetch });
      switch (outcome.kind) {
        case 'sent':
          this.counters.sent += batch.length;
          return this.settle(batch, () => this.emit('sent', { count: batch.length, attempts: attempt, status: outcome.status, body: outcome.body }));
        case 'split': {
          if (batch.length === 1) return this.fail(batch, 'REFUSED', `The server refused the entry as too large (HTTP ${outcome.status})`, outcome);
          const half = Math.ceil(batch.length / 2);
          await this.send(batch.slice(0, half));
          return this.send(batch.slice(half));
        }
        case 'invalid': {
          const invalid = new Set(outcome.indexes.filter((i) => i < batch.length));
          const refused = batch.filter((_, i) => invalid.has(i));
          const rest = batch.filter((_, i) => !invalid.has(i));
          if (refused.length === 0) return this.fail(batch, 'REFUSED', `The server refused the batch (HTTP ${outcome.status})`, outcome);
          // The refused entries may come after some of the rest: progress moves only once the rest is settled too.
          const message = `The server refused ${refused.length} invalid ${refused.length === 1 ? 'entry' : 'entries'} (HTTP ${outcome.status}); the rest of the batch is sent again`;
          this.fail(refused, 'REFUSED', message, outcome, rest.length === 0);
          if (rest.length > 0) return this.send(rest);
          return;
        }
        case 'refused':
          return this.fail(batch, 'REFUSED', `The server refused the batch (HTTP ${outcome.status})`, outcome);
        case 'retry': {
          if (this.abort.signal.aborted) return this.settle(batch, () => this.drop(batch.length, 'close'));
          const retryAfter = Math.min(outcome.retryAfterMs ?? 0, o.maxRetryAfterMs);
          const delayMs = Math.max(retryAfter, backoff.next());
          if (attempt >= o.maxAttempts || o.now() - started + delayMs > o.giveUpAfterMs) {
            return this.fail(batch, 'GAVE_UP', `Gave up after ${attempt} ${attempt === 1 ? 'attempt' : 'attempts'}: ${outcome.reason}`, { ...outcome, attempts: attempt });
          }
          this.counters.retries++;
          this.emit('retry', { count: batch.length, attempt, delayMs, reason: outcome.reason, status: outcome.status });
          await o.sleep(delayMs, this.abort.signal);
        }
      }
    }
  }

  private fail(
    batch: QueuedEntry[],
    code: PublisherErrorCode,
    message: string,
    details: { status?: number; body?: string; reason?: string; attempts?: number },
    advance = true,
  ): void {
    this.counters.failed += batch.length;
    const { status, body, reason, attempts } = details;
    const report = () => this.emit('error', new PublisherError(code, message, batch.length, { status, body, reason, attempts }));
    if (advance) this.settle(batch, report);
    else report();
  }

  /**
   * Marks a piece of the batch in flight settled, then reports it. Pieces are contiguous runs of the
   * batch settled in order (the halves of a split, the rest after refused entries), so everything
   * before the piece's end is settled too.
   */
  private settle(piece: QueuedEntry[], report: () => void): void {
    this.pendingFrom = piece[piece.length - 1]!.seq + 1;
    report();
    this.settleWaiters();
  }

  /** The oldest entry not delivered, failed or dropped yet (seq + 1 when there is none). */
  private lowestUnsettled(): number {
    return this.pendingFrom ?? this.queue.peek()?.seq ?? this.seq + 1;
  }

  private settleWaiters(): void {
    if (this.flushWaiters.length === 0) return;
    const lowest = this.lowestUnsettled();
    const ready = this.flushWaiters.filter((w) => w.seq < lowest);
    if (ready.length === 0) return;
    this.flushWaiters = this.flushWaiters.filter((w) => w.seq >= lowest);
    for (const waiter of ready) waiter.resolve();
  }
}
