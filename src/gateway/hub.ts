import type { Logger } from 'pino';
import type { Bus, StreamMessage } from '../bus/bus.js';
import type { Metrics } from '../metrics/metrics.js';
import { SINCE_THE_START } from '../protocol/constants.js';
import type { JobEventData } from '../protocol/log-entry.js';
import type { LogEntry } from '../protocol/log-entry.js';
import type { LogPage, LogStore } from '../store/log-store.js';
import { Turns } from '../util/turns.js';
import type { Connection } from './connection.js';
import { initialJobsMessage, initialLogsMessage } from './join-backlog.js';
import { textFrame } from './socket-writes.js';

export interface HubOptions {
  initialLogs: number;
  maxLogsPerUser: number;
  maxJobsPerUser: number;
  /**
   * What a socket may hold unsent (MAX_BUFFERED_BYTES). Also the bound on what the hub writes to it at
   * once from the store: the join backlog, and each page of a catch-up.
   */
  maxBufferedBytes: number;
}

/** How a socket asked to start: the newest logs, or resume after a log id. */
export type JoinFrom = { since?: string };

/** A user's sockets on this node, and the bus subscription they share. */
interface Pool {
  conns: Set<Connection>;
  /** Resolves once the bus delivers this user's messages. */
  subscribed: Promise<void>;
  /** In-flight catch-up reads, shared by sockets at the same position. */
  reads: Map<number, Promise<LogPage>>;
}

/**
 * Per-user connection pools and the one delivery path: the bus hands every message back here and the hub
 * writes it to the local sockets entitled to it. Each socket follows its user's stream by sequence number:
 * a duplicate is skipped, a gap (a lost bus message, a reordering between nodes) is filled from the store
 * before anything newer is sent, so every socket gets every log once and in order.
 */
export class Hub {
  private readonly pools = new Map<string, Pool>();
  /**
   * Each log or job event serialized once, whichever path sends it to how many sockets: live fan-out,
   * messages held during a join, a catch-up page that sockets at one position share. Weak: an entry goes
   * with the last reference to its log.
   */
  private readonly payloads = new WeakMap<object, Buffer>();
  private readonly joinTurns = new Turns();

  constructor(
    private readonly bus: Bus,
    private readonly store: LogStore,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: HubOptions,
  ) {}

  socketCount(userId?: string): number {
    if (userId !== undefined) return this.pools.get(userId)?.conns.size ?? 0;
    let n = 0;
    for (const pool of this.pools.values()) n += pool.conns.size;
    return n;
  }

  *connections(): IterableIterator<Connection> {
    for (const pool of this.pools.values()) yield* pool.conns;
  }

  /**
   * Adds a socket and sends what it should start with: `initial-logs` (the newest INITIAL_LOGS, or every
   * stored log after `since`), then `initial-jobs` if it follows jobs. Messages that arrive meanwhile are
   * held and then delivered by sequence number, so none is lost or doubled between backlog and live stream.
   *
   * The two messages together hold at most MAX_BUFFERED_BYTES (initial-jobs at most half of it), read and
   * built within that bound: a socket that never reads holds no more than its budget, and one that
   * resumes after more than fits gets the newest logs that fit with `truncated: true` (it redraws from
   * them, as after any hole) rather than a close it would meet again on every retry.
   */
  async join(conn: Connection, from: JoinFrom): Promise<void> {
    const pool = this.poolFor(conn.userId);
    pool.conns.add(conn);
    this.metrics.socketsOpen.inc();
    try {
      await pool.subscribed;
      // One join's reads and serialization per turn of the event loop: a burst of joins (a user opening
      // 20 sockets of large logs, every client reconnecting after a restart) lets other sockets' I/O
      // through between them instead of running as one long chain (SQLite reads block the thread).
      await this.joinTurns.next();
      if (conn.closed) return;
      const budget = this.options.maxBufferedBytes;
      let page: LogPage;
      let truncated = false;
      if (from.since === SINCE_THE_START) {
        // A client that has seen no log: every stored log, truncated when they do not all fit, or when
        // logs stored since the last clear were trimmed (MAX_LOGS_PER_USER): the client may have missed
        // those (seqs after a clear are contiguous, so the oldest stored one shows it).
        page = await this.store.readLogs(conn.userId, { from: 'tail', limit: this.options.maxLogsPerUser, maxBytes: budget });
        const oldest = page.logs[0];
        truncated = page.hasMore || (oldest !== undefined && oldest.seq > page.clearedSeq + 1);
      } else if (from.since !== undefined) {
        // Every log after the id, or the newest of them that fit (when the id is gone: of all stored). Then
        // the client's view has a hole it cannot fill, and it redraws from these.
        page = await this.store.readLogs(conn.userId, { from: 'id', id: from.since, limit: this.options.maxLogsPerUser, maxBytes: budget, keep: 'newest' });
        truncated = page.truncated || page.hasMore;
      } else {
        page = await this.store.readLogs(conn.userId, { from: 'tail', limit: this.options.initialLogs, maxBytes: budget });
      }
      // Job events held so far were committed before the read below starts, so its answer already holds
      // them: delivering them after initial-jobs would only move a job's progress back for a moment.
      const heldBeforeJobsRead = conn.pending.length;
      const jobs = conn.wants('jobs') ? await this.store.latestJobs(conn.userId, this.options.maxJobsPerUser, this.jobsBudget) : undefined;
      if (conn.closed) return;
      if (jobs) conn.pending = conn.pending.filter((m, i) => i >= heldBeforeJobsRead || m.type !== 'job-event');
      const timestamp = new Date().toISOString();
      const jobsMessage = jobs && initialJobsMessage(jobs, timestamp, this.jobsBudget);
      const logs = page.logs.map((l) => l.log);
      const logsMessage = initialLogsMessage(logs, timestamp, from.since !== undefined ? { truncated } : undefined, budget - (jobsMessage?.frame.length ?? 0));
      conn.sendRaw(logsMessage.payload, 'initial-logs', true, logsMessage.frame);
      if (jobsMessage) conn.sendRaw(jobsMessage.payload, 'initial-jobs', true, jobsMessage.frame);
      conn.lastSeq = page.headSeq;
      this.goLive(conn);
      conn.processEarlyMessages();
    } catch (error) {
      this.failed(conn, error);
    }
  }

  /** Removes a closed socket; the user's bus subscription goes with its last local socket. */
  leave(conn: Connection): void {
    const pool = this.pools.get(conn.userId);
    if (!pool || !pool.conns.delete(conn)) return;
    this.metrics.socketsOpen.dec();
    if (pool.conns.size === 0) {
      this.pools.delete(conn.userId);
      this.bus.unsubscribe(conn.userId).catch((error) => this.logger.warn({ err: error }, 'bus unsubscribe failed'));
    }
  }

  /** A message of a user's stream, from the bus (the one delivery path). */
  onMessage(message: StreamMessage): void {
    const pool = this.pools.get(message.userId);
    if (!pool) return;
    switch (message.type) {
      case 'log': {
        this.metrics.busLag.observe(Math.max(0, Date.now() - message.at) / 1000);
        let delivered = 0;
        let payload: Buffer | undefined;
        let frame: Buffer | undefined;
        for (const conn of pool.conns) {
          // A socket being closed stays in the pool until its close handshake ends: hold nothing for it.
          if (conn.closed) continue;
          if (conn.state !== 'live') {
            conn.pending.push(message);
          } else if (this.advance(conn, message.seq, message)) {
            if (!conn.wants('logs')) continue;
            payload ??= this.payload(message.log, logMessage);
            frame ??= textFrame(payload);
            if (conn.sendRaw(payload, 'log', false, frame)) delivered++;
          }
        }
        if (delivered > 0) {
          this.metrics.messagesSent.labels('log').inc(delivered);
          this.metrics.fanoutLatency.observe(Math.max(0, Date.now() - message.at) / 1000);
        }
        return;
      }
      case 'logs-cleared': {
        const payload = Buffer.from(JSON.stringify({ type: 'logs-cleared', timestamp: message.timestamp }));
        for (const conn of pool.conns) {
          if (conn.closed) continue;
          if (conn.state !== 'live') conn.pending.push(message);
          else if (this.advance(conn, message.seq, message)) conn.sendRaw(payload, 'logs-cleared');
        }
        return;
      }
      case 'job-event': {
        const payload = this.payload(message.data, jobMessage);
        for (const conn of pool.conns) {
          if (conn.closed) continue;
          if (conn.state !== 'live') conn.pending.push(message);
          else if (conn.wants('jobs')) conn.sendRaw(payload, 'job-event');
        }
        return;
      }
    }
  }

  /**
   * The bus may have dropped messages: catch every local socket up from the store. A socket that is
   * joining or already catching up is marked and caught up again once that ends, so what its running
   * read may have missed (and the job state, which has no seq) is not lost.
   */
  onResync(): void {
    this.metrics.busResyncs.inc();
    for (const pool of this.pools.values()) {
      pool.reads.clear(); // a read started before the fault must not answer for after it
      for (const conn of pool.conns) {
        conn.resyncNeeded = true;
        if (conn.state === 'live') void this.catchUp(conn);
      }
    }
  }

  /**
   * Moves a live socket along its stream. True when `seq` is the next one (deliver it); false for a
   * duplicate, or for a gap, which starts a catch-up that will deliver this message too.
   */
  private advance(conn: Connection, seq: number, message: StreamMessage): boolean {
    if (seq <= conn.lastSeq) return false;
    if (seq === conn.lastSeq + 1) {
      conn.lastSeq = seq;
      return true;
    }
    this.metrics.streamGaps.inc();
    conn.pending.push(message);
    void this.catchUp(conn);
    return false;
  }

  /** Fills the socket's gap from the store, then delivers what arrived meanwhile. */
  private async catchUp(conn: Connection): Promise<void> {
    if (conn.state !== 'live' || conn.closed) return;
    conn.state = 'catching-up';
    const resync = conn.resyncNeeded;
    conn.resyncNeeded = false;
    try {
      for (;;) {
        const page = await this.read(conn.userId, conn.lastSeq);
        if (conn.closed) return;
        if (page.clearedSeq > conn.lastSeq) conn.send({ type: 'logs-cleared', timestamp: new Date().toISOString() });
        for (const { seq, log } of page.logs) {
          if (seq <= conn.lastSeq) continue;
          conn.lastSeq = seq;
          if (conn.wants('logs')) conn.sendRaw(this.payload(log, logMessage), 'log');
        }
        if (!page.hasMore) {
          // Every event up to headSeq is committed: what the page lacks was cleared or trimmed.
          conn.lastSeq = Math.max(conn.lastSeq, page.headSeq);
          break;
        }
      }
      // Job events carry no seq, so after a bus fault the stored job state is sent again (while job events
      // are held): the client replaces its job view with it, as on connect.
      if (resync && conn.wants('jobs')) {
        const jobs = await this.store.latestJobs(conn.userId, this.options.maxJobsPerUser, this.jobsBudget);
        if (conn.closed) return;
        const message = initialJobsMessage(jobs, new Date().toISOString(), this.jobsBudget);
        conn.sendRaw(message.payload, 'initial-jobs', true, message.frame);
      }
      this.goLive(conn);
    } catch (error) {
      this.failed(conn, error);
    }
  }

  private read(userId: string, afterSeq: number): Promise<LogPage> {
    const pool = this.pools.get(userId);
    const shared = pool?.reads.get(afterSeq);
    if (shared) return shared;
    // A page at a time within the socket's budget: each page is one burst, and before the next one the
    // socket must have taken the last (see Connection.sendRaw), or it is closed as a slow consumer.
    const read = this.store.readLogs(userId, { from: 'seq', seq: afterSeq, limit: this.options.maxLogsPerUser, maxBytes: this.options.maxBufferedBytes });
    if (pool) {
      pool.reads.set(afterSeq, read);
      void read.finally(() => pool.reads.delete(afterSeq)).catch(() => {});
    }
    return read;
  }

  /** Delivers what was held while the socket was joining or catching up, then follows the bus directly. */
  private goLive(conn: Connection): void {
    conn.state = 'live';
    while (conn.pending.length > 0 && conn.state === 'live' && !conn.closed) {
      const held = conn.pending;
      conn.pending = [];
      for (let i = 0; i < held.length; i++) {
        if (conn.state !== 'live') {
          // A new gap: keep the rest in order behind it.
          conn.pending.push(...held.slice(i));
          break;
        }
        this.deliverOne(conn, held[i]!);
      }
    }
    if (conn.resyncNeeded && conn.state === 'live' && !conn.closed) void this.catchUp(conn);
  }

  private deliverOne(conn: Connection, message: StreamMessage): void {
    switch (message.type) {
      case 'log':
        if (this.advance(conn, message.seq, message) && conn.wants('logs')) conn.sendRaw(this.payload(message.log, logMessage), 'log');
        return;
      case 'logs-cleared':
        if (this.advance(conn, message.seq, message)) conn.send({ type: 'logs-cleared', timestamp: message.timestamp });
        return;
      case 'job-event':
        if (conn.wants('jobs')) conn.sendRaw(this.payload(message.data, jobMessage), 'job-event');
        return;
    }
  }

  private failed(conn: Connection, error: unknown): void {
    this.logger.error({ err: error, userId: conn.userId }, 'could not read the stream from the store; closing the socket so the client resumes');
    conn.close('INTERNAL_ERROR');
  }

  /** The part of the join budget initial-jobs may take; initial-logs gets the rest. */
  private get jobsBudget(): number {
    return Math.floor(this.options.maxBufferedBytes / 2);
  }

  private payload<T extends object>(item: T, serialize: (item: T) => Buffer): Buffer {
    let payload = this.payloads.get(item);
    if (!payload) this.payloads.set(item, (payload = serialize(item)));
    return payload;
  }

  private poolFor(userId: string): Pool {
    let pool = this.pools.get(userId);
    if (!pool) {
      pool = { conns: new Set(), subscribed: this.bus.subscribe(userId), reads: new Map() };
      this.pools.set(userId, pool);
    }
    return pool;
  }
}

/** `{"type":"log",...}` around a stored log. */
function logMessage(log: LogEntry): Buffer {
  return Buffer.from(JSON.stringify({ type: 'log', log, timestamp: new Date().toISOString() }));
}

/** `{"type":"job-event",...}` around a job event. */
function jobMessage(data: JobEventData): Buffer {
  return Buffer.from(JSON.stringify({ type: 'job-event', channel: 'jobs', data, timestamp: new Date().toISOString() }));
}
