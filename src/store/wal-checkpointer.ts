import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Moves SQLite's WAL checkpoints off the event loop. SQLite checkpoints automatically in the
 * connection whose commit takes the WAL past 1,000 pages: that commit then writes the pages back to the
 * database file and syncs it, which held livetail's event loop for several milliseconds every few dozen
 * commits (the p99 of small POSTs). Here a worker thread with a connection of its own to the file runs a
 * PASSIVE checkpoint every `intervalMs` (it never blocks a writer, and a checkpoint with nothing to copy
 * returns without touching the disk); once it has copied everything, the next commit starts the WAL over
 * from its beginning, so the file stays the size of what is written in about one interval.
 *
 * The main connection keeps an automatic checkpoint, at `fallbackPages`, as the bound on the WAL should
 * the worker fall behind; if the worker fails or exits on its own, SQLite's default (1,000 pages) comes
 * back, as if there had been no worker.
 */
export interface WalCheckpointer {
  /** Stops the worker and closes its connection; resolves once it has exited. Idempotent. */
  close(): Promise<void>;
  /** Resolves once the worker has run its first checkpoint (tests: the worker is really there). */
  readonly ready: Promise<void>;
  /**
   * Resolves at the worker's next checkpoint that finds frames in the WAL and leaves none of them
   * uncopied (the next commit then starts the WAL over). For tests and diagnostics.
   */
  caughtUp(): Promise<void>;
}

export interface WalCheckpointerOptions {
  intervalMs?: number;
  /** The main connection's automatic checkpoint while the worker runs, in pages. */
  fallbackPages?: number;
}

/** The connection whose checkpoints move: better-sqlite3's Database, as far as this file needs it. */
export interface CheckpointedConnection {
  readonly name: string;
  pragma(source: string): unknown;
}

export const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

export function startWalCheckpointer(connection: CheckpointedConnection, options: WalCheckpointerOptions = {}): WalCheckpointer {
  const intervalMs = options.intervalMs ?? 100;
  const fallbackPages = options.fallbackPages ?? 10 * SQLITE_DEFAULT_AUTOCHECKPOINT;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file: connection.name, intervalMs } });
  // The worker never keeps the process alive: a process that is done exits, and SQLite recovers a WAL
  // whatever its state.
  worker.unref();
  connection.pragma(`wal_autocheckpoint = ${fallbackPages}`);
  let stopping = false;
  const restoreDefault = () => {
    if (stopping) return;
    stopping = true;
    try {
      connection.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    } catch {
      // the connection is already closed: nothing left to checkpoint through it
    }
  };
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // A worker that cannot open the file or fails later hands the checkpoints back to the main connection.
  worker.on('error', restoreDefault);
  void exited.then(restoreDefault);
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    void exited.then(() => reject(new Error('the WAL checkpoint worker exited before its first checkpoint')));
  });
  ready.catch(() => {});
  let waiting: Array<() => void> = [];
  worker.on('message', (report: CheckpointReport) => {
    if (report.log === 0 || report.checkpointed < report.log) return;
    const resolved = waiting;
    waiting = [];
    for (const resolve of resolved) resolve();
  });
  let closing: Promise<void> | undefined;
  return {
    ready,
    caughtUp: () => new Promise<void>((resolve) => waiting.push(resolve)),
    close: () =>
      (closing ??= (async () => {
        stopping = true;
        // Held by the process until it has exited: a shutdown awaiting only this must not see the
        // event loop empty out and the process end before it is done.
        worker.ref();
        worker.postMessage('stop');
        await exited;
      })()),
  };
}

/** What the worker posts after a checkpoint that found the WAL changed: SQLite's frame counts. */
interface CheckpointReport {
  /** Frames in the WAL. */
  log: number;
  /** Of those, frames copied into the database file. */
  checkpointed: number;
}

/**
 * The worker, as source (a file beside this one would not exist when livetail runs from its TypeScript
 * sources under a test runner). CommonJS: `require` is what an eval'd worker has.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
// Never wait for a lock: a checkpoint that finds one busy runs again next interval.
db.pragma('busy_timeout = 0');
// Until it has caught up: the WAL starts over only at a commit that begins with every frame copied, and a
// second pass copies just what was committed during the first, in a fraction of its time.
let last = { log: -1, checkpointed: -1 };
const checkpoint = () => {
  let result;
  for (let pass = 0; pass < 4; pass++) {
    const [{ busy, log, checkpointed }] = db.pragma('wal_checkpoint(PASSIVE)');
    result = { log, checkpointed };
    if (busy || checkpointed >= log) break;
  }
  if (result.log !== last.log || result.checkpointed !== last.checkpointed) parentPort.postMessage(result);
  last = result;
};
checkpoint();
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;
