import type { JobEventData, LogEntry } from '../protocol/log-entry.js';

/**
 * One write to a user's stream. Logs and clears are sequenced; job events update the job state; an
 * idempotency op records the key of the request the other ops of its commit came from.
 * Ops are applied in array order.
 */
export type WriteOp =
  | { kind: 'log'; log: LogEntry }
  | { kind: 'clear'; userId: string; timestamp: string }
  | { kind: 'job'; userId: string; data: JobEventData }
  /** Records `claim` with `result`, the answer a retry under the same key gets again (JSON). */
  | { kind: 'idempotency'; claim: IdempotencyClaim; result: string };

/**
 * What a committed op of a user's stream became (an idempotency op becomes none). `seq` is the op's
 * position in its user's stream.
 */
export type CommittedEvent =
  | { kind: 'log'; userId: string; seq: number; log: LogEntry }
  | { kind: 'clear'; userId: string; seq: number; timestamp: string }
  | { kind: 'job'; userId: string; data: JobEventData };

/** An op of a user's stream: every kind but an idempotency record; each becomes one CommittedEvent. */
export type StreamOp = Exclude<WriteOp, { kind: 'idempotency' }>;

export function isStreamOp(op: WriteOp): op is StreamOp {
  return op.kind !== 'idempotency';
}

/**
 * A request's Idempotency-Key as the store keeps it. `scope` says whose it is (`service` for the ingest
 * token, `user:<id>` for a session's user): one caller's key never answers another caller's request.
 */
export interface IdempotencyKey {
  scope: string;
  key: string;
}

/** A key a request claims, with a hash of what the request asked, to tell its retry from another request under the same key. */
export interface IdempotencyClaim extends IdempotencyKey {
  bodyHash: string;
}

/** What a recorded key holds: the first attempt's body hash and result (JSON). */
export interface IdempotencyRecord {
  bodyHash: string;
  result: string;
}

export interface StoredLog {
  seq: number;
  log: LogEntry;
}

/**
 * Where to start reading a user's logs, and how much at most.
 *
 * `maxBytes` bounds the page by size as well as by count: it ends before the log that would take the
 * sum of its logs' stored sizes past `maxBytes` (a log's stored size: the bytes of its data, command and
 * account id), but holds at least one log when there is one, so a reader paging on always advances.
 * The engine measures the logs itself, so those beyond the budget never reach the process (a reader that
 * asks for a few huge logs does not load a thousand). `hasMore` says the page was cut short, by count or
 * by size.
 */
export type LogQuery =
  /** The newest `limit` logs (with `maxBytes`: the newest that fit). */
  | { from: 'tail'; limit: number; maxBytes?: number }
  /** Logs after the log with this id; `truncated` when that id is no longer stored. */
  | { from: 'id'; id: string; limit: number; maxBytes?: number; keep?: RangeEnd }
  /** Logs with a sequence number above `seq` (the gateway's catch-up after a gap). */
  | { from: 'seq'; seq: number; limit: number; maxBytes?: number; keep?: RangeEnd };

/**
 * Which logs a page after a position holds when it cannot hold them all: the oldest (the default, for
 * a reader that pages on), or the newest (for a reader that continues from the stream's head and only
 * needs to know, from `hasMore`, that logs after the position were left out).
 */
export type RangeEnd = 'oldest' | 'newest';

export interface LogPage {
  /** Oldest first. */
  logs: StoredLog[];
  /** With `from: 'id'`: the id is not stored (trimmed, cleared or unknown), so the reader's view has a hole. */
  truncated: boolean;
  /** The user's last sequence number (log or clear) committed when the page was read. */
  headSeq: number;
  /** The sequence number of the user's last clear, 0 if never cleared. */
  clearedSeq: number;
  /** True when more logs follow the page (the limit cut it short). */
  hasMore: boolean;
}

// The seam's failure when the store does not answer, defined with every other error livetail throws.
export { StoreUnavailableError } from '../errors.js';

/**
 * The commit claimed an idempotency key that is already recorded (committed within the window, by this
 * node or another): nothing of the commit was stored. `record` is what the key holds, to answer with.
 */
export class IdempotencyKeyTakenError extends Error {
  constructor(
    readonly key: IdempotencyKey,
    readonly record: IdempotencyRecord,
  ) {
    super(`The idempotency key ${JSON.stringify(key.key)} is already recorded`);
    this.name = 'IdempotencyKeyTakenError';
  }
}

/** What became of a commit whose answer was lost; `unknown` while the store cannot tell (yet). */
export type CommitOutcome = 'committed' | 'aborted' | 'unknown';

/**
 * The commit was on its way (COMMIT sent) when the connection was lost or the caller stopped waiting:
 * the transaction may have committed. `outcome()` asks the store, which must answer again for that;
 * `events` is what the ops became if it did commit.
 */
export class CommitInDoubtError extends Error {
  constructor(
    message: string,
    readonly events: CommittedEvent[],
    readonly outcome: () => Promise<CommitOutcome>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommitInDoubtError';
  }
}

/**
 * The durable source of truth for logs and job state.
 *
 * Contract (tested by test/contract/log-store.contract.ts against every implementation):
 * - `commit` applies all ops atomically: all are stored, or none and it throws. It resolves with one
 *   event per stream op (every op but `idempotency`), in op order.
 * - How `commit` fails says what was stored: StoreUnavailableError when the store could not be reached or
 *   did not answer (nothing stored, ever); CommitInDoubtError when the answer to COMMIT itself was lost
 *   (maybe stored: ask `outcome()`); any other error when the store refused the ops themselves (nothing
 *   stored; the same ops would fail again).
 * - Once `signal` is aborted, `commit` settles at once: if COMMIT was not sent yet the transaction is
 *   rolled back and it throws StoreUnavailableError; if it was, CommitInDoubtError.
 * - `written` is called once the commit's writes have answered and before COMMIT is sent: from then on
 *   its seqs are fixed and its users' heads held, so a commit started after that call (on this store,
 *   up to `commitsInFlight` at once) is ordered after it for every user they share: its seqs come after
 *   this one's, or this one never commits. It is not called when the writes fail.
 * - Each user has one stream of sequence numbers, shared by logs and clears, assigned at commit and
 *   strictly increasing in commit order: if a log with seq N is visible to a reader, every event of that
 *   user with a smaller seq is committed too (implementations serialize a user's writers to keep this
 *   true under concurrent writers on several nodes). A reader that resumes after seq N never misses an
 *   event that commits later.
 * - A user keeps at most `maxLogsPerUser` logs (oldest trimmed at commit) and the latest event of at most
 *   `maxJobsPerUser` jobs (least recently updated trimmed).
 * - A clear deletes every log of the user committed before it, in the same transaction.
 * - A page is read from one consistent snapshot: `headSeq`, `clearedSeq` and `logs` agree.
 * - An `idempotency` op records its key in the commit's transaction: the key is recorded if and only if
 *   the other ops are stored. While a record is younger than `idempotencyWindowMs`, a commit claiming
 *   the same key (scope and key) throws IdempotencyKeyTakenError with it and stores nothing; commits
 *   claiming one key at once, on any nodes, store once: the others wait for that commit and then throw.
 *   Two ops claiming one key in one commit are refused. An older record is taken over by the next claim,
 *   and purged by later commits that record keys (at least as many as they record), so the records
 *   held stay about those of one window.
 * Out of scope: fan-out (the bus), validation and sanitizing (done before commit), and the connection:
 * the store runs on a Database handle it does not own (its owner, the core or the app, closes it).
 */
export interface LogStore {
  /** The implementation's name for log lines (`sqlite`, `postgres`). Nothing branches on it: ask the seam's methods. */
  readonly name: string;
  /**
   * How many commits a caller may have under way at once, each started after the previous one's
   * `written` (1: one at a time; SQLite, whose one connection runs one transaction).
   */
  readonly commitsInFlight: number;
  /** Creates or upgrades the store's tables; safe to run from several nodes at once. */
  migrate(): Promise<void>;
  commit(ops: WriteOp[], signal?: AbortSignal, written?: () => void): Promise<CommittedEvent[]>;
  readLogs(userId: string, query: LogQuery): Promise<LogPage>;
  /** The record of a key committed less than `idempotencyWindowMs` ago, if there is one. */
  findIdempotency(key: IdempotencyKey): Promise<IdempotencyRecord | undefined>;
  /**
   * The latest event data of the user's most recently updated jobs, most recent first. With `maxBytes`,
   * as many of them as fit in that many bytes of stored data (at least one), as for LogQuery.
   */
  latestJobs(userId: string, limit: number, maxBytes?: number): Promise<JobEventData[]>;
  /** Resolves when the store answers a trivial query (readiness). */
  ping(): Promise<void>;
}

export interface LogStoreLimits {
  maxLogsPerUser: number;
  maxJobsPerUser: number;
  /** How long a recorded idempotency key holds (IDEMPOTENCY_WINDOW_MS); default 10 minutes. */
  idempotencyWindowMs?: number;
}
