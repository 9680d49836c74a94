import type { Kysely, Transaction } from 'kysely';
import { type CommitOutcome, CommitInDoubtError, type CommittedEvent, StoreUnavailableError } from './log-store.js';

/** What a store engine tells the commit about itself. */
export interface CommitEngine {
  /** True for errors that mean the store could not be reached or did not answer (not: refused the data). */
  isUnavailable(error: unknown): boolean;
  /** The transaction's id, asked before COMMIT, for `status` to look up if COMMIT's answer is lost. */
  transactionId?(trx: Transaction<any>): Promise<string>;
  /** What became of the transaction with this id; `unknown` when the store does not answer or cannot tell. */
  status?(transactionId: string): Promise<CommitOutcome>;
}

/**
 * Transactions an engine runs itself, without Kysely's transaction builder: for a synchronous engine
 * (SQLite), where the builder's objects and promise chains are a sizeable share of a small commit
 * (about 10 of 65 µs of CPU for a commit of one log). `start` resolves once the transaction is open on
 * a connection nothing else uses until `commit` or `rollback` ends it.
 */
export interface EngineTransactions {
  start(): Promise<EngineTransaction>;
}

export interface EngineTransaction {
  /** Commits; on failure the transaction may still be open, and `rollback` ends it. */
  commit(): Promise<void>;
  /** Rolls back if still open, and releases the connection (every call after the first does nothing). */
  rollback(): Promise<void>;
}

/** An open transaction as `run` drives it, whoever opened it. */
interface Opened<T> {
  handle: T;
  /** The transaction's id for the engine's `status`, asked before COMMIT (when the engine has one). */
  id(): Promise<string | undefined>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * Runs `write` in a transaction and commits it, so that every failure says what was stored
 * (the LogStore contract): StoreUnavailableError (nothing, ever), CommitInDoubtError (COMMIT was sent and
 * its answer lost), or the error the store refused the ops with (nothing).
 *
 * `signal` bounds the wait: once it is aborted the returned promise settles at once, whatever the
 * database is doing. The work goes on in the background only to end cleanly: it checks the signal before
 * sending COMMIT and rolls back instead, so "aborted before COMMIT" really means never committed.
 */
export function commitTransaction(
  db: Kysely<any>,
  engine: CommitEngine,
  signal: AbortSignal | undefined,
  write: (trx: Transaction<any>) => Promise<CommittedEvent[]>,
  written?: () => void,
): Promise<CommittedEvent[]> {
  const open = async (): Promise<Opened<Transaction<any>>> => {
    const trx = await db.startTransaction().execute();
    return {
      handle: trx,
      id: async () => engine.transactionId?.(trx),
      commit: () => trx.commit().execute(),
      rollback: () => trx.rollback().execute(),
    };
  };
  return commitWith(open, engine, signal, write, written);
}

/**
 * commitTransaction with the engine's own transactions (see EngineTransactions), for a `write` that
 * runs on the engine directly rather than through a Kysely transaction. The same contract: the same
 * errors for the same failures, and the same deadline.
 */
export function commitEngineTransaction(
  transactions: EngineTransactions,
  engine: CommitEngine,
  signal: AbortSignal | undefined,
  write: () => Promise<CommittedEvent[]>,
  written?: () => void,
): Promise<CommittedEvent[]> {
  const open = async (): Promise<Opened<undefined>> => {
    const trx = await transactions.start();
    return { handle: undefined, id: async () => undefined, commit: () => trx.commit(), rollback: () => trx.rollback() };
  };
  return commitWith(open, engine, signal, write, written);
}

function commitWith<T>(
  open: () => Promise<Opened<T>>,
  engine: CommitEngine,
  signal: AbortSignal | undefined,
  write: (handle: T) => Promise<CommittedEvent[]>,
  written: (() => void) | undefined,
): Promise<CommittedEvent[]> {
  if (signal?.aborted) return Promise.reject(gaveUp());
  const attempt: Attempt = { phase: 'writing', events: [] };
  const work = run(open, engine, write, attempt, signal, written);
  if (!signal) return work;
  // What `work` ended with, for an in-doubt answer given before it did.
  let ended: CommitOutcome | undefined;
  work.then(
    () => (ended = 'committed'),
    (error) => {
      // A lost answer says nothing; a refusal from the server says it did not commit.
      if (!(error instanceof CommitInDoubtError) && !engine.isUnavailable(error)) ended = 'aborted';
    },
  );
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(attempt.phase === 'committing' ? inDoubt(engine, attempt, () => ended) : gaveUp());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

interface Attempt {
  phase: 'writing' | 'committing';
  events: CommittedEvent[];
  transactionId?: string;
}

async function run<T>(
  open: () => Promise<Opened<T>>,
  engine: CommitEngine,
  write: (handle: T) => Promise<CommittedEvent[]>,
  attempt: Attempt,
  signal: AbortSignal | undefined,
  written: (() => void) | undefined,
): Promise<CommittedEvent[]> {
  let trx;
  try {
    trx = await open();
  } catch (error) {
    throw unavailableOr(engine, error);
  }
  try {
    if (signal?.aborted) throw gaveUp();
    attempt.events = await write(trx.handle);
    attempt.transactionId = await trx.id();
    if (signal?.aborted) throw gaveUp();
  } catch (error) {
    await trx.rollback().catch(() => {});
    throw unavailableOr(engine, error);
  }
  attempt.phase = 'committing';
  // The writes answered (seqs fixed, heads held): the caller may start its next commit beside this one.
  written?.();
  try {
    await trx.commit();
  } catch (error) {
    // Ends a transaction that is still open and releases the connection (a lost one is discarded).
    await trx.rollback().catch(() => {});
    // An answer from the server (a refused commit) means it did not commit; a lost one leaves it open.
    if (!engine.isUnavailable(error)) throw error;
    throw inDoubt(engine, attempt, () => undefined, error);
  }
  return attempt.events;
}

/** `error` as StoreUnavailableError when it means the store is not answering; else as it is. */
function unavailableOr(engine: CommitEngine, error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !engine.isUnavailable(error)) return error;
  return new StoreUnavailableError(`The store did not answer: ${messageOf(error)}`, { cause: error });
}

function gaveUp(): StoreUnavailableError {
  return new StoreUnavailableError('The store did not commit in time: the transaction was rolled back');
}

/**
 * The commit may have happened. Its outcome is what the work still running ends with (`ended`), once it
 * gets an answer; until then the store is asked by transaction id.
 */
function inDoubt(engine: CommitEngine, attempt: Attempt, ended: () => CommitOutcome | undefined, cause?: unknown): CommitInDoubtError {
  const outcome = async (): Promise<CommitOutcome> => {
    const known = ended();
    if (known) return known;
    if (attempt.transactionId === undefined || !engine.status) return 'unknown';
    return engine.status(attempt.transactionId).catch(() => 'unknown' as const);
  };
  const message = cause ? `The connection to the store was lost while committing: ${messageOf(cause)}` : 'The store did not answer the commit in time';
  return new CommitInDoubtError(message, attempt.events, outcome, { cause });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
