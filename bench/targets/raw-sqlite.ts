import BetterSqlite3 from 'better-sqlite3';
import { createUuidV7 } from '../../src/logs/uuid-v7.js';
import { monotonicMicros } from '../load/messages.js';
import { benchLog } from '../lib/poster.js';

/**
 * W5's reference: raw better-sqlite3 storing the same rows in the same batches as W5 posts to livetail
 * (100 entries for users picked at random, each given a UUIDv7 id and a timestamp, its data serialized),
 * into livetail's own tables (a copy of the same filled file, so the same schema, the same rows, at
 * retention), with livetail's pragmas (WAL, synchronous=NORMAL). Per batch one `BEGIN IMMEDIATE`
 * transaction: one prepared INSERT per row, then per user of the batch one DELETE of the rows past
 * retention and one UPDATE of its stream head, and COMMIT. Heads are kept in memory (this process is
 * the only writer). What a hand-written single-process store would do at least: no HTTP, no
 * validation, no sanitizing, no Kysely, no per-commit head reads.
 *
 * Protocol (IPC): `{ type: 'run', file, userIds, maxLogsPerUser, batchSize, warmupMs, windowMs }` →
 * `{ type: 'window-start' }` when the measured part begins, then `{ type: 'done', logs, seconds, cpuSeconds }`.
 */
interface RunRequest {
  type: 'run';
  file: string;
  userIds: string[];
  maxLogsPerUser: number;
  batchSize: number;
  warmupMs: number;
  windowMs: number;
}

let db: BetterSqlite3.Database | undefined;
let file: string | undefined;
const heads = new Map<string, number>();
const newId = createUuidV7();

function open(path: string): BetterSqlite3.Database {
  if (db && file === path) return db;
  db?.close();
  db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  file = path;
  heads.clear();
  for (const row of db.prepare('select user_id, head_seq from livetail_stream').all() as Array<{ user_id: string; head_seq: number }>) {
    heads.set(row.user_id, Number(row.head_seq));
  }
  return db;
}

function writer(database: BetterSqlite3.Database, maxLogsPerUser: number) {
  const begin = database.prepare('begin immediate');
  const commit = database.prepare('commit');
  const insert = database.prepare('insert into livetail_log (user_id, seq, id, ts, level, email_account_id, command, data) values (?, ?, ?, ?, ?, ?, ?, ?)');
  const trim = database.prepare('delete from livetail_log where user_id = ? and seq <= ?');
  const upsertHead = database.prepare(
    'insert into livetail_stream (user_id, head_seq) values (?, ?) on conflict (user_id) do update set head_seq = excluded.head_seq',
  );
  return (userIds: readonly string[], batchSize: number) => {
    const timestamp = new Date().toISOString();
    const touched = new Set<string>();
    begin.run();
    for (let i = 0; i < batchSize; i++) {
      const entry = benchLog(userIds[Math.floor(Math.random() * userIds.length)]!, monotonicMicros());
      const seq = (heads.get(entry.userId) ?? 0) + 1;
      heads.set(entry.userId, seq);
      touched.add(entry.userId);
      insert.run(entry.userId, seq, newId(), timestamp, entry.level, entry.emailAccountId, entry.command, JSON.stringify(entry.data));
    }
    for (const userId of touched) {
      const head = heads.get(userId)!;
      if (head > maxLogsPerUser) trim.run(userId, head - maxLogsPerUser);
      upsertHead.run(userId, head);
    }
    commit.run();
  };
}

const yieldToIpc = () => new Promise((resolve) => setImmediate(resolve));

async function run(request: RunRequest): Promise<void> {
  const write = writer(open(request.file), request.maxLogsPerUser);
  // Batches back to back, yielding every few ms so the IPC messages go out on time.
  const loop = async (ms: number) => {
    let logs = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const slice = performance.now() + 5;
      while (performance.now() < slice) {
        write(request.userIds, request.batchSize);
        logs += request.batchSize;
      }
      await yieldToIpc();
    }
    return logs;
  };
  await loop(request.warmupMs);
  process.send?.({ type: 'window-start' });
  const cpu = process.cpuUsage();
  const started = performance.now();
  const logs = await loop(request.windowMs);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  process.send?.({ type: 'done', logs, seconds, cpuSeconds: (used.user + used.system) / 1e6 });
}

process.on('message', (message: RunRequest) => {
  if (message?.type !== 'run') return;
  run(message).catch((error: Error) => process.send?.({ type: 'failed', message: error.stack ?? error.message }));
});
process.on('disconnect', () => {
  db?.close();
  process.exit(0);
});
process.on('SIGTERM', () => {
  db?.close();
  process.exit(0);
});
process.send?.({ type: 'ready' });
