import type { Logger } from 'pino';
import type { Bus, BusMessage } from '../bus/bus.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CommittedEvent, LogStore, WriteOp } from '../store/log-store.js';

interface Pending {
  ops: WriteOp[];
  at: number;
  resolve(events: CommittedEvent[]): void;
  reject(error: unknown): void;
}

/** Upper bound on writes per transaction, so one transaction never holds the database for long. */
const MAX_OPS_PER_COMMIT = 5000;

/**
 * The only way events enter a user's stream: commit to the store, then publish to the bus.
 *
 * Group commit: submissions that arrive while a transaction runs are committed together in the next one,
 * so there is no database round trip per log however fast they come, and a lone log is written at once.
 * Transactions run one at a time, so this node publishes in commit order. Each submission is atomic
 * (its ops share one transaction); a failed transaction rejects every submission in it and publishes nothing.
 */
export class StreamWriter {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: LogStore,
    private readonly bus: Bus,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Commits `ops` (atomically) and publishes what they became; resolves after the commit. */
  submit(ops: WriteOp[]): Promise<CommittedEvent[]> {
    if (ops.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, at: Date.now(), resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  /** Resolves when every submission so far is committed and published (shutdown). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    // Let the current tick's submissions join the first transaction.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        await this.commit(batch);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private takeBatch(): Pending[] {
    let count = 0;
    let i = 0;
    while (i < this.queue.length && (i === 0 || count + this.queue[i]!.ops.length <= MAX_OPS_PER_COMMIT)) {
      count += this.queue[i]!.ops.length;
      i++;
    }
    return this.queue.splice(0, i);
  }

  private async commit(batch: Pending[]): Promise<void> {
    const ops = batch.flatMap((p) => p.ops);
    const started = performance.now();
    let events: CommittedEvent[];
    try {
      events = await this.store.commit(ops);
    } catch (error) {
      this.metrics.storeWriteErrors.inc();
      this.logger.error({ err: error, ops: ops.length }, 'store write failed');
      for (const p of batch) p.reject(error);
      return;
    }
    this.metrics.storeWriteBatches.inc();
    this.metrics.storeWriteDuration.observe((performance.now() - started) / 1000);
    this.metrics.storeWriteOps.observe(ops.length);

    let offset = 0;
    for (const p of batch) {
      const mine = events.slice(offset, offset + p.ops.length);
      offset += p.ops.length;
      for (const event of mine) this.publish(event, p.at);
      p.resolve(mine);
    }
  }

  private publish(event: CommittedEvent, at: number): void {
    const message: BusMessage =
      event.kind === 'log'
        ? { type: 'log', userId: event.userId, seq: event.seq, log: event.log, at }
        : event.kind === 'clear'
          ? { type: 'logs-cleared', userId: event.userId, seq: event.seq, timestamp: event.timestamp }
          : { type: 'job-event', userId: event.userId, data: event.data };
    this.metrics.busPublished.labels(message.type).inc();
    this.bus.publish(message);
  }
}
