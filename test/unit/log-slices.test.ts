import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLogSlices, type SlicedPageEnd } from '../../src/http/log-slices.js';
import { type SqliteDatabaseHandle, openDatabase } from '../../src/store/database.js';
import type { LogPage, LogQuery, WriteOp } from '../../src/store/log-store.js';
import { SqliteLogStore } from '../../src/store/sqlite-log-store.js';
import { testLog } from '../contract/log-store.contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-slices-'));
let database: SqliteDatabaseHandle;
let store: SqliteLogStore;
beforeAll(async () => {
  const opened = await openDatabase({ kind: 'sqlite', path: path.join(dir, 'store.db') });
  if (opened.kind !== 'sqlite') throw new Error('expected SQLite');
  database = opened;
  store = new SqliteLogStore(database, { maxLogsPerUser: 12, maxJobsPerUser: 10 });
  await store.migrate();
});
afterAll(async () => {
  await database.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let users = 0;
const log = (userId: string, command: string): WriteOp => ({ kind: 'log', log: testLog(userId, command) });
const clear = (userId: string): WriteOp => ({ kind: 'clear', userId, timestamp: new Date().toISOString() });

/** Every slice's texts in order, and how the read ended. `between` runs after each slice. */
async function sliced(
  read: (query: LogQuery) => Promise<LogPage>,
  query: LogQuery,
  budget: number,
  between: () => Promise<void> = async () => {},
): Promise<{ texts: string[]; slices: number; end: SlicedPageEnd }> {
  const generator = readLogSlices(read, query, budget);
  const texts: string[] = [];
  let slices = 0;
  for (;;) {
    const next = await generator.next();
    if (next.done) return { texts, slices, end: next.value };
    texts.push(...next.value);
    slices++;
    await between();
  }
}

describe('readLogSlices: a page read in bounded slices is the page one read answers', () => {
  it('agrees with one read for tail and since queries, every limit, before and after clears and trims', async () => {
    const read = (userId: string) => (query: LogQuery) => store.readLogs(userId, query);
    // Histories: logs only, more than retention keeps (12), cleared, cleared and written again, empty.
    const user = () => `slices-${++users}`;
    for (const build of [
      (u: string) => Array.from({ length: 7 }, (_, i) => log(u, `L${i}`)),
      (u: string) => Array.from({ length: 20 }, (_, i) => log(u, `L${i}`)),
      (u: string) => [log(u, 'A'), log(u, 'B'), clear(u)],
      (u: string) => [log(u, 'A'), clear(u), log(u, 'C'), log(u, 'D'), log(u, 'E')],
      () => [],
    ]) {
      const u = user();
      const ops = build(u);
      for (const op of ops) await store.commit([op]);
      const all = (await store.readLogs(u, { from: 'seq', seq: 0, limit: 1000 })).logs;
      for (const limit of [1, 2, 3, 5, 11, 12, 13, 100]) {
        const queries: LogQuery[] = [{ from: 'tail', limit }, { from: 'id', id: 'unknown-id', limit }, ...all.map((l) => ({ from: 'id' as const, id: l.log.id, limit }))];
        for (const query of queries) {
          for (const budget of [1, 500, 1_000_000]) {
            const whole = await store.readLogs(u, query);
            const { texts, end } = await sliced(read(u), query, budget);
            const where = `${u} ${JSON.stringify(query)} budget ${budget}`;
            expect(texts, where).toEqual(whole.logs.map((l) => JSON.stringify(l.log)));
            expect(end, where).toEqual({ truncated: whole.truncated, hasMore: whole.hasMore });
          }
        }
      }
    }
  });

  it('reads a big page in many small slices when entries are big, few when they are small', async () => {
    const u = `slices-${++users}`;
    for (let i = 0; i < 12; i++) await store.commit([log(u, `L${i}`)]);
    const size = JSON.stringify((await store.readLogs(u, { from: 'tail', limit: 1 })).logs[0]!.log).length;
    const read = (query: LogQuery) => store.readLogs(u, query);
    expect((await sliced(read, { from: 'tail', limit: 12 }, size)).slices).toBe(9); // 4 + 1 + 1 + ...
    expect((await sliced(read, { from: 'tail', limit: 12 }, 100 * size)).slices).toBe(2); // 4, then the rest
  });

  it('ends early with hasMore when a clear or the retention removes logs between slices, never with a hole', async () => {
    for (const change of ['clear', 'trim'] as const) {
      const u = `slices-${++users}`;
      for (let i = 0; i < 10; i++) await store.commit([log(u, `L${i}`)]);
      let changed = false;
      const between = async () => {
        if (changed) return;
        changed = true;
        // A clear; or 12 new logs, trimming every old one not yet sent (retention is 12).
        await store.commit(change === 'clear' ? [clear(u)] : Array.from({ length: 12 }, (_, i) => log(u, `N${i}`)));
      };
      for (const query of [{ from: 'tail', limit: 10 }, { from: 'seq', seq: 0, limit: 10 }] as const) {
        changed = false;
        if (change === 'clear') {
          await store.commit([clear(u)]);
          for (let i = 0; i < 10; i++) await store.commit([log(u, `L${i}`)]);
        }
        const current = (await store.readLogs(u, { from: 'seq', seq: 0, limit: 100 })).logs.map((l) => JSON.stringify(l.log));
        const { texts, end } = await sliced((q) => store.readLogs(u, q), query, 1, between);
        const where = `${change} ${query.from}`;
        // The first slice (4 logs), then the change is seen and the page ends: a prefix of what was there.
        expect(texts, where).toEqual((query.from === 'tail' ? current.slice(-10) : current).slice(0, 4));
        expect(end.hasMore, where).toBe(true);
      }
    }
  });
});
