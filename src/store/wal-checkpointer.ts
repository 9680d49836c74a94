import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { once } from '../util/once.js';

/**
 * Moves SQLite's WAL checkpoints off the event loop. SQLite checkpoints automatically in the
 * connection whose commit takes the WAL past 1,000 pages: that commit then writes the pages back to the
 * database file and syncs it, which held livetail's event loop for several milliseconds every few dozen
 * commits (the p99 of small POSTs). Here a worker thread with a connection of its own to the file does
 * it instead: it reads the WAL's size from the -shm file every `pollMs` and runs a PASSIVE checkpoint
 * (it never blocks a writer) when `thresholdPages` wait to be copied, as SQLite would, or when the writers
 * have paused. Once it has copied everything, the next commit starts the WAL over from its beginning.
 *
 * The main connection keeps an automatic checkpoint, at `fallbackPages`, as the bound on the WAL should
 * the worker fall behind; if the worker fails or exits on its own, SQLite's default (1,000 pages) comes
 * back, as if there had been no worker.
 */
export interface WalCheckpointer {
  /**
   * Stops the worker and closes its connection; resolves once it has exited and the main connection
   * checkpoints by itself again. Idempotent.
   */
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
  /** How often the worker looks at the WAL's size (a read of the -shm file's header). */
  pollMs?: number;
  /** The worker checkpoints once this many pages wait to be copied (SQLite's own automatic threshold). */
  thresholdPages?: number;
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
  const pollMs = options.pollMs ?? 25;
  const thresholdPages = options.thresholdPages ?? SQLITE_DEFAULT_AUTOCHECKPOINT;
  const fallbackPages = options.fallbackPages ?? 10 * SQLITE_DEFAULT_AUTOCHECKPOINT;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file: connection.name, pollMs, thresholdPages } });
  // The worker never keeps the process alive: a process that is done exits, and SQLite recovers a WAL
  // whatever its state.
  worker.unref();
  connection.pragma(`wal_autocheckpoint = ${fallbackPages}`);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // A worker's uncaught error would be thrown in this thread without a listener; the exit that follows
  // it is what hands the checkpoints back.
  worker.on('error', () => {});
  // Once the worker is gone (it failed, could not open the file, or was stopped) the main connection
  // checkpoints the way SQLite does by default: whatever is written after that is not left to the bound.
  void exited.then(() => {
    try {
      connection.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    } catch {
      // the connection is already closed: nothing left to checkpoint through it
    }
  });
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
  return {
    ready,
    caughtUp: () => new Promise<void>((resolve) => waiting.push(resolve)),
    close: once(async () => {
      // Held by the process until it has exited: a shutdown awaiting only this must not see the event
      // loop empty out and the process end before it is done.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    }),
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
const fs = require('node:fs');
const os = require('node:os');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
// Never wait for a lock: a checkpoint that finds one busy runs again at the next poll.
db.pragma('busy_timeout = 0');
// The wal-index header in the -shm file (https://www.sqlite.org/walformat.html), in native byte order:
// mxFrame, the frames in the WAL, at byte 16; nBackfill, those already copied, at byte 96. Reading it costs
// a system call; asking SQLite (a checkpoint) would copy pages.
// Opened after the first checkpoint, which makes SQLite create the file if no connection has yet.
let shm;
const header = Buffer.alloc(100);
const read = os.endianness() === 'LE' ? (at) => header.readUInt32LE(at) : (at) => header.readUInt32BE(at);
const uncopied = () => (fs.readSync(shm, header, 0, 100, 0) < 100 ? 0 : Math.max(0, read(16) - read(96)));
let last = { log: -1, checkpointed: -1 };
// Until it has caught up: the WAL starts over only at a commit that begins with every frame copied, and a
// second pass copies just what was committed during the first, in a fraction of its time.
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
// As often as SQLite would (every thresholdPages frames: each page is copied as seldom as before), and
// whatever is left once the writers pause for a poll, while there is time for it.
let before = 0;
const poll = () => {
  const frames = uncopied();
  if (frames >= workerData.thresholdPages || (frames > 0 && frames === before)) checkpoint();
  before = frames;
};
checkpoint();
shm = fs.openSync(workerData.file + '-shm', 'r');
const timer = setInterval(poll, workerData.pollMs);
parentPort.on('message', () => {
  clearInterval(timer);
  fs.closeSync(shm);
  db.close();
  parentPort.close();
});
`;
