import type { Logger } from 'pino';
import type { Bus, StreamMessage } from '../bus/bus.js';
import type { Metrics } from '../metrics/metrics.js';
import { SINCE_THE_START } from '../protocol/constants.js';
import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import type { ServerMessageOf } from '../protocol/messages.js';
import type { LogPage, LogStore } from '../store/log-store.js';
import { Turns } from '../util/turns.js';
import type { Connection } from './connection.js';
import { IdleUsers } from './idle-users.js';
import { JobsKnownEmpty } from './jobs-known-empty.js';
import { type BuiltInitialLogs, initialJobsMessage, initialLogsFor } from './join-backlog.js';
import { RecentLogs } from './recent-logs.js';
import { textFrame } from './socket-writes.js';
import type { Release } from './stream-cursor.js';

export interface HubOptions {
  initialLogs: number;
  maxLogsPerUser: number;
  maxJobsPerUser: number;
  /**
   * What a socket may hold unsent (MAX_BUFFERED_BYTES). Also the bound on what the hub writes to it at
   * once from the store: the join backlog, and each page of a catch-up.
   */
  maxBufferedBytes: number;
  /** RECENT_LOGS_LINGER_MS: how long a user's pool outlives its last local socket (see IdleUsers); 0: not at all. */
  recentLogsLingerMs: number;
}

/** How a socket asked to start: the newest logs, or resume after a log id. */
export type JoinFrom = { since?: string };

/** A user's sockets on this node, and the bus subscription they share. */
interface Pool {
  conns: Set<Connection>;
  /** Resolves once the bus delivers this user's messages. */
  subscribed: Promise<void>;
  /** In-flight catch-up reads, shared by sockets at the same position; made for the first (memory per user). */
  reads?: Map<number, Promise<LogPage>> | undefined;
  /** The user's newest logs, kept in step with the stream: a join is answered from them when they can tell. */
  recent: RecentLogs;
  /** The read filling `recent`, while one is under way. */
  filling?: Promise<void> | undefined;
  /** Whether the user has no stored jobs (so a join need not ask the store for its initial-jobs). */
  jobs: JobsKnownEmpty;
  /** The last initial-logs built from `recent`: the next connects of the same logs reuse it but its timestamp. */
  initialLogs?: BuiltInitialLogs | undefined;
}

/**
 * The most bytes of log JSON a user's RecentLogs keeps (never more than MAX_BUFFERED_BYTES): INITIAL_LOGS
 * typical logs (about 450 bytes each) take a tenth of it; a user whose newest logs are larger is answered
 * from the store, as before.
 */
const RECENT_LOGS_MAX_BYTES = 512 * 1024;

/**
 * Bounds on the users kept after their last local socket (IdleUsers): a reconnect within the linger is
 * answered from memory. 64 MiB holds the newest 100 typical logs of about 1,400 users; the count bounds
 * the pools and bus subscriptions of users without logs.
 */
const IDLE_USERS_MAX = 10_000;
const IDLE_USERS_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Per-user connection pools and the one delivery path: the bus hands every message back here, the hub
 * prepares it once and asks each local socket's cursor (stream-cursor.ts) what to do with it. The cursor
 * decides — send, hold during a join or catch-up, skip a duplicate, or catch up a gap (a lost bus
 * message, a reordering between nodes) from the store before anything newer is sent — and the hub does
 * the reading and the sending, so every socket gets every log once and in order.
 */
export class Hub {
  private readonly pools = new Map<string, Pool>();
  /**
   * Each log, clear or job event serialized once, whichever path sends it to how many sockets: live fan-out,
   * messages held during a join, a catch-up page that sockets at one position share. Weak: an entry goes
   * with the last reference to its log.
   */
  private readonly payloads = new WeakMap<object, Buffer>();
  /** Each live log's JSON, made once for its `log` payload and for the users' RecentLogs alike. */
  private readonly logJson = new WeakMap<LogEntry, string>();
  private readonly joinTurns = new Turns();
  private readonly idle: IdleUsers;
  /** Sweeps `idle` while it holds anyone. */
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly store: LogStore,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: HubOptions,
  ) {
    this.idle = new IdleUsers(options.recentLogsLingerMs, IDLE_USERS_MAX, IDLE_USERS_MAX_BYTES);
  }

  /** Users kept after their last local socket (tests, and the idle-users gauge). */
  idleUserCount(): number {
    return this.idle.size;
  }

  /** Stops the idle users' sweep (the core's close; the bus goes after it). */
  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

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
   * held by the socket's cursor and then delivered by sequence number, so none is lost or doubled between
   * backlog and live stream.
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
      let logs: readonly (string | Buffer)[];
      let headSeq: number;
      let truncated = false;
      // The newest logs, or those after one of them, are answered from memory when the user's RecentLogs
      // can tell them (see recent-logs.ts); the store otherwise. When it holds nothing yet, one read of the
      // newest logs fills it for every socket of the user joining now (a reconnect storm: 10 sockets of a
      // user resuming a few logs behind cost one read instead of ten).
      const fromRecent = () =>
        from.since === undefined ? pool.recent.newest(budget) : from.since !== SINCE_THE_START ? pool.recent.after(from.since, budget) : undefined;
      let recent = fromRecent();
      const answeredFromMemory = recent !== undefined;
      if (!recent && from.since !== SINCE_THE_START && !pool.recent.valid) {
        await this.fillRecent(conn.userId, pool, budget);
        if (conn.closed) return;
        recent = fromRecent();
      }
      this.metrics.joinBacklogs.labels(answeredFromMemory ? 'memory' : 'store').inc();
      if (recent) {
        logs = recent.json;
        headSeq = recent.headSeq;
      } else {
        const page = await this.readBacklog(conn, from, budget);
        logs = page.json;
        headSeq = page.headSeq;
        truncated = page.truncated;
      }
      let jobs: JobEventData[] | undefined;
      if (conn.wants('jobs')) {
        conn.cursor.readingJobs();
        if (pool.jobs.empty) {
          jobs = [];
        } else {
          const ticket = pool.jobs.beginRead();
          jobs = await this.store.latestJobs(conn.userId, this.options.maxJobsPerUser, this.jobsBudget);
          pool.jobs.read(ticket, jobs.length === 0);
        }
      }
      if (conn.closed) return;
      const timestamp = new Date().toISOString();
      const jobsMessage = jobs && initialJobsMessage(jobs, timestamp, this.jobsBudget);
      const resume = from.since !== undefined ? { truncated } : undefined;
      const logsBudget = budget - (jobsMessage?.frame.length ?? 0);
      const { message: logsMessage, built } = initialLogsFor(pool.initialLogs, logs, timestamp, resume, logsBudget);
      // Only RecentLogs' newest answer is one array for many connects; a store page or a resume's slice is not.
      if (recent && from.since === undefined) pool.initialLogs = built;
      conn.sendRaw(logsMessage.payload, 'initial-logs', true, logsMessage.frame);
      if (jobsMessage) conn.sendRaw(jobsMessage.payload, 'initial-jobs', true, jobsMessage.frame);
      this.released(conn, conn.cursor.joined(headSeq));
      conn.processEarlyMessages();
    } catch (error) {
      this.failed(conn, error);
    }
  }

  /** A join's logs from the store (each log's JSON, oldest first), and the head they are the stream up to. */
  private async readBacklog(conn: Connection, from: JoinFrom, budget: number): Promise<{ json: string[]; headSeq: number; truncated: boolean }> {
    const jsonOf = (page: LogPage) => page.logs.map(({ log }) => JSON.stringify(log));
    if (from.since === SINCE_THE_START) {
      // A client that has seen no log: every stored log, truncated when they do not all fit, or when
      // logs stored since the last clear were trimmed (MAX_LOGS_PER_USER): the client may have missed
      // those (seqs after a clear are contiguous, so the oldest stored one shows it).
      const page = await this.store.readLogs(conn.userId, { from: 'tail', limit: this.options.maxLogsPerUser, maxBytes: budget });
      const oldest = page.logs[0];
      return { json: jsonOf(page), headSeq: page.headSeq, truncated: page.hasMore || (oldest !== undefined && oldest.seq > page.clearedSeq + 1) };
    }
    if (from.since !== undefined) {
      // Every log after the id, or the newest of them that fit (when the id is gone: of all stored). Then
      // the client's view has a hole it cannot fill, and it redraws from these.
      const page = await this.store.readLogs(conn.userId, { from: 'id', id: from.since, limit: this.options.maxLogsPerUser, maxBytes: budget, keep: 'newest' });
      return { json: jsonOf(page), headSeq: page.headSeq, truncated: page.truncated || page.hasMore };
    }
    // The newest logs that RecentLogs could not answer (join tried fillRecent first): too many bytes for it.
    const page = await this.store.readLogs(conn.userId, { from: 'tail', limit: this.options.initialLogs, maxBytes: budget });
    return { json: jsonOf(page), headSeq: page.headSeq, truncated: false };
  }

  /** Fills the user's RecentLogs from one read of the newest logs, shared by the joins that wait for it. */
  private fillRecent(userId: string, pool: Pool, budget: number): Promise<void> {
    pool.filling ??= (async () => {
      const ticket = pool.recent.beginFill();
      const page = await this.store.readLogs(userId, { from: 'tail', limit: this.options.initialLogs, maxBytes: budget });
      pool.recent.fill(ticket, page, page.logs.map(({ log }) => this.jsonOf(log)));
    })().finally(() => (pool.filling = undefined));
    return pool.filling;
  }

  /**
   * Removes a closed socket. The user's pool (bus subscription, RecentLogs) outlives its last local
   * socket for RECENT_LOGS_LINGER_MS within IdleUsers' bounds, when it holds logs a reconnect could be
   * answered from; else it goes with that socket.
   */
  leave(conn: Connection): void {
    const pool = this.pools.get(conn.userId);
    if (!pool || !pool.conns.delete(conn)) return;
    this.metrics.socketsOpen.dec();
    if (pool.conns.size > 0) return;
    if (!this.idle.enabled || !pool.recent.valid) return this.drop(conn.userId);
    for (const userId of this.idle.add(conn.userId, pool.recent.size.bytes, Date.now())) this.drop(userId);
    this.metrics.idleUsers.set(this.idle.size);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(250, Math.floor(this.options.recentLogsLingerMs / 4))).unref();
  }

  /** Drops the idle users whose linger is over, whose kept logs can no longer answer (as in `leave`), or who no longer fit the bounds. */
  private sweep(): void {
    const keptBytes = (userId: string) => {
      const recent = this.pools.get(userId)?.recent;
      return recent?.valid ? recent.size.bytes : undefined;
    };
    for (const userId of this.idle.sweep(Date.now(), keptBytes)) this.drop(userId);
    this.metrics.idleUsers.set(this.idle.size);
    if (this.idle.size === 0) this.stop();
  }

  /** A user with no local socket: its pool and its bus subscription go. */
  private drop(userId: string): void {
    this.idle.remove(userId);
    const pool = this.pools.get(userId);
    if (!pool || pool.conns.size > 0) return;
    this.pools.delete(userId);
    this.bus.unsubscribe(userId).catch((error) => this.logger.warn({ err: error }, 'bus unsubscribe failed'));
  }

  /**
   * A message of a user's stream, from the bus (the one delivery path). It is prepared once — serialized
   * and framed — for every socket its cursor says should have it now; metrics are counted once.
   */
  onMessage(message: StreamMessage): void {
    const pool = this.pools.get(message.userId);
    if (!pool) return;
    pool.recent.offer(message, () => this.jsonOf((message as StreamMessage & { type: 'log' }).log));
    if (message.type === 'job-event') pool.jobs.changed();
    if (message.type === 'log') this.metrics.busLag.observe(Math.max(0, Date.now() - message.at) / 1000);
    let sent = 0;
    let payload: Buffer | undefined;
    let frame: Buffer | undefined;
    for (const conn of pool.conns) {
      // A socket being closed stays in the pool until its close handshake ends: nothing more for it.
      if (conn.closed) continue;
      const offer = conn.cursor.offer(message);
      if (offer === 'send') {
        if (!follows(conn, message)) continue;
        payload ??= this.payloadOf(message);
        frame ??= textFrame(payload);
        if (conn.sendRaw(payload, message.type, false, frame)) sent++;
      } else if (offer === 'gap') {
        this.metrics.streamGaps.inc();
        void this.catchUp(conn);
      }
    }
    if (sent > 0) {
      this.metrics.messagesSent.labels(message.type).inc(sent);
      if (message.type === 'log') this.metrics.fanoutLatency.observe(Math.max(0, Date.now() - message.at) / 1000);
    }
  }

  /**
   * The bus may have dropped messages: catch every local socket up from the store. A socket that is
   * joining or already catching up is caught up again once that ends (its cursor keeps the debt), so
   * what its running read may have missed (and the job state, which has no seq) is not lost.
   */
  onResync(): void {
    this.metrics.busResyncs.inc();
    for (const pool of this.pools.values()) {
      pool.reads?.clear(); // a read started before the fault must not answer for after it
      pool.recent.resync();
      pool.jobs.changed();
      for (const conn of pool.conns) {
        if (!conn.closed && conn.cursor.resync()) void this.catchUp(conn);
      }
    }
  }

  /**
   * Fills the socket's gap from the store, page by page from its cursor's position, then sends what the
   * cursor held meanwhile. The cursor is catching up when this is called.
   */
  private async catchUp(conn: Connection): Promise<void> {
    const cursor = conn.cursor;
    try {
      for (;;) {
        const page = await this.read(conn.userId, cursor.position);
        if (conn.closed) return;
        const step = cursor.caughtUpTo(page);
        if (step.cleared) conn.sendRaw(logsClearedPayload(new Date().toISOString()), 'logs-cleared');
        if (conn.wants('logs')) for (const { log } of step.logs) conn.sendRaw(this.logPayload(log), 'log');
        if (!step.more) break;
      }
      // Job events carry no seq, so after a bus fault the stored job state is sent again (while job events
      // are held): the client replaces its job view with it, as on connect.
      if (cursor.resyncing && conn.wants('jobs')) {
        cursor.readingJobs();
        const jobs = await this.store.latestJobs(conn.userId, this.options.maxJobsPerUser, this.jobsBudget);
        if (conn.closed) return;
        const message = initialJobsMessage(jobs, new Date().toISOString(), this.jobsBudget);
        conn.sendRaw(message.payload, 'initial-jobs', true, message.frame);
      }
      this.released(conn, cursor.caughtUp());
    } catch (error) {
      this.failed(conn, error);
    }
  }

  private read(userId: string, afterSeq: number): Promise<LogPage> {
    const pool = this.pools.get(userId);
    const shared = pool?.reads?.get(afterSeq);
    if (shared) return shared;
    // A page at a time within the socket's budget: each page is one burst, and before the next one the
    // socket must have taken the last (see Connection.sendRaw), or it is closed as a slow consumer.
    const read = this.store.readLogs(userId, { from: 'seq', seq: afterSeq, limit: this.options.maxLogsPerUser, maxBytes: this.options.maxBufferedBytes });
    if (pool) {
      (pool.reads ??= new Map()).set(afterSeq, read);
      void read
        .finally(() => {
          pool.reads?.delete(afterSeq);
          if (pool.reads?.size === 0) pool.reads = undefined;
        })
        .catch(() => {});
    }
    return read;
  }

  /** Sends what the cursor held while the socket was joining or catching up, then catches up again if told. */
  private released(conn: Connection, release: Release): void {
    for (const message of release.send) {
      if (conn.closed) return;
      if (follows(conn, message)) conn.sendRaw(this.payloadOf(message), message.type);
    }
    if (release.catchUp === undefined || conn.closed) return;
    if (release.catchUp === 'gap') this.metrics.streamGaps.inc();
    void this.catchUp(conn);
  }

  private failed(conn: Connection, error: unknown): void {
    this.logger.error({ err: error, userId: conn.userId }, 'could not read the stream from the store; closing the socket so the client resumes');
    conn.close('INTERNAL_ERROR');
  }

  /** The part of the join budget initial-jobs may take; initial-logs gets the rest. */
  private get jobsBudget(): number {
    return Math.floor(this.options.maxBufferedBytes / 2);
  }

  /** A stream message's payload, serialized once whichever path sends it to how many sockets. */
  private payloadOf(message: StreamMessage): Buffer {
    switch (message.type) {
      case 'log':
        return this.logPayload(message.log);
      case 'job-event':
        return this.payload(message.data, jobEventPayload);
      case 'logs-cleared':
        return this.payload(message, clearedPayload);
    }
  }

  /** A log's `log` message, around its JSON (made once, see jsonOf). */
  private logPayload(log: LogEntry): Buffer {
    return this.payload(log, (l) => logPayloadOf(this.jsonOf(l)));
  }

  /** `JSON.stringify(log)`, once per log whichever needs it first (its payload or a RecentLogs). */
  private jsonOf(log: LogEntry): string {
    let json = this.logJson.get(log);
    if (json === undefined) this.logJson.set(log, (json = JSON.stringify(log)));
    return json;
  }

  private payload<T extends object>(item: T, serialize: (item: T) => Buffer): Buffer {
    let payload = this.payloads.get(item);
    if (!payload) this.payloads.set(item, (payload = serialize(item)));
    return payload;
  }

  private poolFor(userId: string): Pool {
    let pool = this.pools.get(userId);
    if (pool && this.idle.has(userId)) {
      this.idle.remove(userId);
      this.metrics.idleUsers.set(this.idle.size);
    }
    if (!pool) {
      const recent = new RecentLogs(Math.min(this.options.initialLogs, this.options.maxLogsPerUser), Math.min(RECENT_LOGS_MAX_BYTES, this.options.maxBufferedBytes));
      pool = { conns: new Set(), subscribed: this.bus.subscribe(userId), recent, jobs: new JobsKnownEmpty() };
      this.pools.set(userId, pool);
    }
    return pool;
  }
}

/** Whether a socket follows the channel of a message it is due (logs-cleared goes to every socket). */
function follows(conn: Connection, message: StreamMessage): boolean {
  if (message.type === 'log') return conn.wants('logs');
  if (message.type === 'job-event') return conn.wants('jobs');
  return true;
}

/**
 * `{"type":"log",...}` around a log's JSON: byte for byte `JSON.stringify({ type: 'log', log, timestamp })`
 * (a ServerMessageOf<'log'>), without serializing the log a second time.
 */
function logPayloadOf(logJson: string): Buffer {
  return Buffer.from(`{"type":"log","log":${logJson},"timestamp":${JSON.stringify(new Date().toISOString())}}`);
}

/** `{"type":"job-event",...}` around a job event. */
function jobEventPayload(data: JobEventData): Buffer {
  return Buffer.from(JSON.stringify({ type: 'job-event', channel: 'jobs', data, timestamp: new Date().toISOString() } satisfies ServerMessageOf<'job-event'>));
}

/** `{"type":"logs-cleared",...}`: the one encoding of a clear, from the bus or found by a catch-up. */
function logsClearedPayload(timestamp: string): Buffer {
  return Buffer.from(JSON.stringify({ type: 'logs-cleared', timestamp } satisfies ServerMessageOf<'logs-cleared'>));
}

function clearedPayload(message: StreamMessage & { type: 'logs-cleared' }): Buffer {
  return logsClearedPayload(message.timestamp);
}
