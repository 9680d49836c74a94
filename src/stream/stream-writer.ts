import type { Logger } from 'pino';
import type { Bus, BusMessage } from '../bus/bus.js';
import { HTTP_ERRORS, StoreWriteError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import {
  CommitInDoubtError,
  type CommittedEvent,
  type IdempotencyKey,
  IdempotencyKeyTakenError,
  type LogStore,
  StoreUnavailableError,
  type WriteOp,
  isStreamOp,
} from '../store/log-store.js';
import { type InDoubtAnswer, settleInDoubt } from './in-doubt.js';

interface Pending {
  ops: WriteOp[];
  /** The idempotency keys its ops claim (`scope NUL key`). */
  keys: string[];
  /** How many events its commit yields: one per stream op. */
  eventCount: number;
  /** When it was submitted (ms since epoch): the bus lag metric starts here. */
  at: number;
  /** When it must be answered by (ms since epoch). */
  deadline: number;
  resolve(events: CommittedEvent[]): void;
  reject(error: unknown): void;
}

/** Why a transaction did not commit; `timedOut` when the writer gave up on it at the deadline. */
interface Failure {
  error: unknown;
  timedOut: boolean;
}

/** What a transaction came to: its events, or why it did not commit. */
type Attempted = { events: CommittedEvent[]; failure?: undefined } | { failure: Failure };

export interface StreamWriterOptions {
  /** STORE_TIMEOUT_MS: a submission not committed this long after it was made is answered with 503. */
  timeoutMs: number;
  /** MAX_PENDING_WRITES: ops waiting or being committed beyond which a new submission gets 503 at once. */
  maxPendingOps: number;
}

/** Upper bound on writes per transaction, so one transaction never holds the database for long. */
const MAX_OPS_PER_COMMIT = 5000;

/**
 * The only way events enter a user's stream: commit to the store, then publish to the bus.
 *
 * Group commit: submissions that arrive while a transaction runs are committed together in the next one,
 * so there is no database round trip per log however fast they come, and a lone log is written at once.
 * On a store that takes more than one commit at once (LogStore.commitsInFlight), the next transaction
 * starts once the one before it has written (its seqs and head locks come first) and is published after
 * it: this node publishes each user's events in seq order, and only once they are committed. Each submission is atomic
 * (its ops share one transaction) and is answered within `timeoutMs`, with its events or an error:
 * - StoreWriteError STORE_UNAVAILABLE (503 with Retry-After over HTTP) when the queue is full, the store does not answer, or the
 *   time is up before COMMIT was sent: nothing of it was stored, and nothing ever will be.
 * - StoreWriteError STORE_COMMIT_IN_DOUBT (503) when the answer to COMMIT was lost and the store could not say what became
 *   of it in time; if it turns out committed, its events are published then.
 * - the store's own error when the store refused the submission's ops. A grouped transaction refused
 *   for any reason other than an unreachable store is committed again in halves, down to the submission
 *   at fault: only that one fails, and the others are stored, in their order.
 * - IdempotencyKeyTakenError when the submission's idempotency key is already recorded: the group is
 *   committed again at once without that one submission (no halving: the error names it). Submissions
 *   claiming one key never share a transaction, so of two sent at once the first is stored and the
 *   second, in the next transaction, gets the first's record.
 */
export class StreamWriter {
  private queue: Pending[] = [];
  /** Ops queued or in the running transaction (MAX_PENDING_WRITES counts these). */
  private pendingOps = 0;
  private flushing: Promise<void> | undefined;
  /** Fires at the deadline of the oldest queued submission. */
  private expiry: NodeJS.Timeout | undefined;
  /** Whether the last transaction found the store unreachable (logged once per outage, not per write). */
  private storeDown = false;
  /** Transactions under way (started, not yet published or refused). */
  private inFlight = 0;
  /** How many may be under way at once: the store's commitsInFlight. */
  private readonly maxInFlight: number;
  /** The newest transaction started; `written` once its writes answered. */
  private newest: { written: boolean } | undefined;
  /** Resolves once the newest transaction started has been published or refused. */
  private settled: Promise<void> = Promise.resolve();
  /** Batches whose transaction failed, in start order, waiting to be isolated with nothing else under way. */
  private readonly refused: Array<[batch: Pending[], failure: Failure]> = [];
  /** Wakes drain when it waits for a change (see `changed`). */
  private wake: (() => void) | undefined;

  constructor(
    private readonly store: LogStore,
    private readonly bus: Bus,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: StreamWriterOptions,
  ) {
    this.maxInFlight = Math.max(1, store.commitsInFlight ?? 1);
  }

  /** Commits `ops` (atomically) and publishes what they became; resolves after the commit. */
  submit(ops: WriteOp[]): Promise<CommittedEvent[]> {
    if (ops.length === 0) return Promise.resolve([]);
    // A submission larger than the bound on its own is still taken when nothing else waits.
    if (this.pendingOps > 0 && this.pendingOps + ops.length > this.options.maxPendingOps) {
      this.metrics.storeWritesRefused.labels('queue-full').inc(ops.length);
      return Promise.reject(
        new StoreWriteError('STORE_UNAVAILABLE', HTTP_ERRORS.STORE_UNAVAILABLE.texts.queueFull(this.options.maxPendingOps)),
      );
    }
    return new Promise((resolve, reject) => {
      const at = Date.now();
      const keys = ops.flatMap((op) => (op.kind === 'idempotency' ? [keyId(op.claim)] : []));
      const eventCount = ops.filter(isStreamOp).length;
      this.queue.push({ ops, keys, eventCount, at, deadline: at + this.options.timeoutMs, resolve, reject });
      this.changePending(ops.length);
      this.scheduleExpiry();
      this.flushing ??= this.drain();
      this.notify();
    });
  }

  /** Resolves when every submission so far is answered: committed and published, or refused (shutdown). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /**
   * Starts transactions while submissions wait: one when none is under way, and another beside it (up
   * to the store's commitsInFlight) once the newest one's writes have answered, so that its seqs and
   * head locks come first. Each publishes after the one started before it, so events leave this node in
   * seq order per user. A transaction that fails is retried (isolation) only once nothing else is under
   * way, and nothing new starts meanwhile, so what it does is what it did with one transaction at a time.
   */
  private async drain(): Promise<void> {
    try {
      for (;;) {
        if (this.refused.length > 0) {
          if (this.inFlight > 0) await this.changed();
          else await this.isolate(...this.refused.shift()!);
          continue;
        }
        if (this.queue.length === 0 && this.inFlight === 0) return;
        if (this.queue.length === 0 || !this.mayStart()) {
          await this.changed();
          continue;
        }
        // A turn of the event loop before each transaction: the submissions of this turn and the I/O
        // that is ready (requests, sockets) get in first. A store that answers without I/O (SQLite)
        // would otherwise let a producer that submits again as soon as it is answered keep the loop to
        // itself, and no socket would be written until it stopped.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.refused.length > 0 || !this.mayStart()) continue;
        const batch = this.takeBatch();
        if (batch.length > 0) this.launch(batch);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Whether a transaction may start now: none under way, or room beside ones whose writes answered. */
  private mayStart(): boolean {
    if (this.inFlight === 0) return true;
    return this.inFlight < this.maxInFlight && this.newest?.written === true;
  }

  /** Resolves at the next submission, answered write step or settled transaction. */
  private changed(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Starts `batch`'s transaction beside those under way. Once it answers, and the one started before it
   * has settled, its events are published (or, when it failed, it waits in `refused` for isolation).
   */
  private launch(batch: Pending[]): void {
    const flight = { written: false };
    this.newest = flight;
    this.inFlight++;
    const outcome = this.attempt(batch, () => {
      flight.written = true;
      this.notify();
    });
    const before = this.settled;
    this.settled = (async () => {
      try {
        const result = await outcome;
        await before;
        if (result.failure) this.refused.push([batch, result.failure]);
        else this.settle(batch, result.events);
      } catch (error) {
        this.logger.error({ err: error }, 'publishing a committed store write failed');
      } finally {
        this.inFlight--;
        this.notify();
      }
    })();
  }

  /** The next transaction's submissions: up to MAX_OPS_PER_COMMIT ops, and no idempotency key twice. */
  private takeBatch(): Pending[] {
    let count = 0;
    let i = 0;
    const keys = new Set<string>();
    while (i < this.queue.length && (i === 0 || count + this.queue[i]!.ops.length <= MAX_OPS_PER_COMMIT)) {
      const claimed = this.queue[i]!.keys;
      if (claimed.some((key) => keys.has(key))) break;
      for (const key of claimed) keys.add(key);
      count += this.queue[i]!.ops.length;
      i++;
    }
    return this.queue.splice(0, i);
  }

  /**
   * After a transaction of `batch` failed: when the store refused it for something in it (not for being
   * away), the halves are committed one after the other, and so on down to the submission at fault: a
   * few transactions find it even in a large group, and the others are stored in their order.
   */
  private async isolate(batch: Pending[], failed: Failure): Promise<void> {
    const [failure, rest] = await this.commitUntaken(batch, failed);
    if (failure === undefined) return;
    if (rest.length === 1 || isStoreFault(failure.error)) return this.fail(rest, failure);
    this.metrics.storeWriteIsolations.inc();
    this.logger.warn({ err: failure.error, submissions: rest.length }, 'grouped store write refused: committing it in parts to find the submission at fault');
    await this.bisect(rest);
  }

  /**
   * Commits `batch` (unless `failed` says how its transaction just failed); while the store names an
   * idempotency key of the group as taken, that key's submission is answered with it and the others are
   * committed again. Returns the failure that ended it, if any, with the submissions still left in it.
   */
  private async commitUntaken(batch: Pending[], failed?: Failure): Promise<[failure: Failure | undefined, batch: Pending[]]> {
    let failure = failed ?? (await this.tryCommit(batch));
    for (;;) {
      const owner = failure && batch.length > 1 ? claimantOf(batch, failure.error) : undefined;
      if (!owner) return [failure, batch];
      this.fail([owner], failure!);
      batch = batch.filter((p) => p !== owner);
      failure = await this.tryCommit(batch);
    }
  }

  /** Commits `batch` in halves, recursively; returns the store fault that ended it early, if one did. */
  private async bisect(batch: Pending[]): Promise<Failure | undefined> {
    const mid = Math.ceil(batch.length / 2);
    const [first, second] = [batch.slice(0, mid), batch.slice(mid)];
    const parts: Array<[part: Pending[], rest: Pending[]]> = [[first, second], [second, []]];
    for (const [whole, rest] of parts) {
      const [failure, part] = await this.commitUntaken(whole);
      if (failure === undefined) continue;
      let fault: Failure | undefined = failure;
      if (part.length > 1 && !isStoreFault(failure.error)) fault = await this.bisect(part);
      else this.fail(part, failure);
      if (fault !== undefined && isStoreFault(fault.error)) {
        // The store went away meanwhile: what is left would meet the same.
        this.fail(rest, fault);
        return fault;
      }
    }
    return undefined;
  }

  /** One transaction for `batch`, alone, published as soon as it commits. Undefined when it committed. */
  private async tryCommit(batch: Pending[]): Promise<Failure | undefined> {
    const result = await this.attempt(batch);
    if (result.failure) return result.failure;
    this.settle(batch, result.events);
    return undefined;
  }

  /**
   * One transaction for `batch`, bounded by its earliest deadline: its events, or why it did not commit
   * (never a rejection). `written` is the store's call once its writes answered (see LogStore.commit).
   */
  private async attempt(batch: Pending[], written?: () => void): Promise<Attempted> {
    const ops = batch.length === 1 ? batch[0]!.ops : batch.flatMap((p) => p.ops);
    let deadline = Infinity;
    for (const p of batch) deadline = Math.min(deadline, p.deadline);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - Date.now()));
    const started = performance.now();
    let events: CommittedEvent[];
    try {
      events = await this.store.commit(ops, controller.signal, written);
    } catch (error) {
      // A taken key is an answer (the request was already served), not a failed write.
      if (!(error instanceof IdempotencyKeyTakenError)) {
        this.metrics.storeWriteErrors.inc();
        this.noteFailure(error, ops.length);
      }
      return { failure: { error, timedOut: controller.signal.aborted } };
    } finally {
      clearTimeout(timer);
    }
    if (this.storeDown) {
      this.storeDown = false;
      this.logger.info({ event: 'store-available' }, 'the store answers again: writes are committed');
    }
    this.metrics.storeWriteBatches.inc();
    this.metrics.storeWriteDuration.observe((performance.now() - started) / 1000);
    this.metrics.storeWriteOps.observe(ops.length);
    return { events };
  }

  /** Publishes each submission's events and resolves it with them. */
  private settle(batch: Pending[], events: CommittedEvent[]): void {
    for (const [p, mine] of eachOwn(batch, events)) {
      for (const event of mine) this.publish(event, p.at);
      this.answer(p);
      p.resolve(mine);
    }
  }

  /** Answers every submission of `batch` after a failed transaction, each as its failure says. */
  private fail(batch: Pending[], { error, timedOut }: Failure): void {
    if (batch.length === 0) return;
    if (error instanceof CommitInDoubtError) return this.inDoubt(batch, error);
    if (error instanceof StoreUnavailableError) {
      const reason = timedOut ? 'timeout' : 'unavailable';
      this.metrics.storeWritesRefused.labels(reason).inc(batch.reduce((n, p) => n + p.ops.length, 0));
      const refusal = timedOut ? this.timeoutError() : new StoreWriteError('STORE_UNAVAILABLE');
      for (const p of batch) this.refuse(p, refusal);
      return;
    }
    for (const p of batch) this.refuse(p, error);
  }

  /**
   * The transaction may have committed. Until the earliest deadline the store is asked, so that the
   * answer can still be the truth (201, or a 503 that means not stored); after it the submissions get
   * STORE_COMMIT_IN_DOUBT while the asking goes on, and what committed is published once known.
   */
  private inDoubt(batch: Pending[], error: CommitInDoubtError): void {
    this.logger.warn({ event: 'commit-in-doubt', ops: error.events.length, err: error }, 'the answer to a commit was lost: asking the store what became of it');
    const answer: InDoubtAnswer = {
      committed: () => {
        this.metrics.storeCommitsInDoubt.labels('committed').inc();
        this.settle(batch, error.events);
      },
      aborted: () => {
        this.metrics.storeCommitsInDoubt.labels('aborted').inc();
        this.fail(batch, { error: new StoreUnavailableError('The commit was lost: the store rolled it back'), timedOut: false });
      },
      late: () => {
        for (const p of batch) this.refuse(p, inDoubtError(p.ops));
      },
      lateOutcome: (outcome) => {
        this.metrics.storeCommitsInDoubt.labels(outcome).inc();
        if (outcome === 'committed') for (const [p, mine] of eachOwn(batch, error.events)) for (const event of mine) this.publish(event, p.at);
        const log = outcome === 'unknown' ? this.logger.error.bind(this.logger) : this.logger.warn.bind(this.logger);
        log({ event: 'commit-resolved', outcome, ops: error.events.length }, `a commit answered STORE_COMMIT_IN_DOUBT turned out ${outcome}`);
      },
    };
    settleInDoubt(error.outcome, Math.min(...batch.map((p) => p.deadline)), answer);
  }

  private refuse(p: Pending, error: unknown): void {
    this.answer(p);
    p.reject(error);
  }

  /** A submission leaves the pending count when it is answered. */
  private answer(p: Pending): void {
    this.changePending(-p.ops.length);
  }

  private changePending(delta: number): void {
    this.pendingOps += delta;
    this.metrics.storePendingOps.set(this.pendingOps);
  }

  /** Answers queued submissions whose deadline passed: they never reached the store. */
  private scheduleExpiry(): void {
    if (this.expiry || this.queue.length === 0) return;
    this.expiry = setTimeout(() => {
      this.expiry = undefined;
      const now = Date.now();
      let expired = 0;
      while (expired < this.queue.length && this.queue[expired]!.deadline <= now) expired++;
      const late = this.queue.splice(0, expired);
      if (late.length > 0) this.fail(late, { error: new StoreUnavailableError('The store did not take the write in time'), timedOut: true });
      this.scheduleExpiry();
    }, Math.max(0, this.queue[0]!.deadline - Date.now()));
    this.expiry.unref();
  }

  private timeoutError(): StoreWriteError {
    return new StoreWriteError('STORE_UNAVAILABLE', HTTP_ERRORS.STORE_UNAVAILABLE.texts.timeout(this.options.timeoutMs));
  }

  private noteFailure(error: unknown, ops: number): void {
    if (!isStoreFault(error)) {
      this.logger.error({ err: error, ops }, 'store write failed');
    } else if (!this.storeDown) {
      this.storeDown = true;
      this.logger.error({ event: 'store-unavailable', err: error, ops }, 'the store does not answer: writes get 503 until it does');
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

/** Each submission of a batch with its share of the batch's events (one per stream op, in the same order). */
function* eachOwn(batch: Pending[], events: CommittedEvent[]): Generator<[Pending, CommittedEvent[]]> {
  let offset = 0;
  for (const p of batch) {
    yield [p, events.slice(offset, offset + p.eventCount)];
    offset += p.eventCount;
  }
}

function keyId(key: IdempotencyKey): string {
  return `${key.scope}\u0000${key.key}`;
}

/** The submission of `batch` that claims the key `error` says is taken, if it is that error. */
function claimantOf(batch: Pending[], error: unknown): Pending | undefined {
  if (!(error instanceof IdempotencyKeyTakenError)) return undefined;
  const taken = keyId(error.key);
  return batch.find((p) => p.keys.includes(taken));
}

/** The store could not be reached or lost a commit's answer: nothing the submission itself did wrong. */
function isStoreFault(error: unknown): boolean {
  return error instanceof StoreUnavailableError || error instanceof CommitInDoubtError;
}

/**
 * With the id of the submission's first log: it was stored whole or not at all, so looking for that one
 * id tells the producer whether to send it again.
 */
function inDoubtError(ops: WriteOp[]): StoreWriteError {
  const first = ops.find((op) => op.kind === 'log');
  if (first?.kind !== 'log') return new StoreWriteError('STORE_COMMIT_IN_DOUBT');
  const detail = { path: [0], message: HTTP_ERRORS.STORE_COMMIT_IN_DOUBT.texts.firstLog, id: first.log.id };
  return new StoreWriteError('STORE_COMMIT_IN_DOUBT', undefined, [detail]);
}
