import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LogStore } from '../../src/store/log-store.js';
import { PostgresLogStore } from '../../src/store/postgres-log-store.js';
import { testLog } from '../contract/log-store.contract.js';
import { fileDatabase } from '../helpers/pg-file-database.js';
import { serviceAvailable } from '../helpers/services.js';

const available = await serviceAvailable('postgres');
const database = fileDatabase();

describe.skipIf(!available)('ordering under concurrent writers on PostgreSQL', () => {
  it('never lets a reader resuming with since or afterSeq skip a log that commits later with a smaller seq', async () => {
    const limits = { maxLogsPerUser: 100_000, maxJobsPerUser: 50 };
    // Three nodes, each with its own pool, as three livetail processes would have.
    const nodes: LogStore[] = [];
    for (let i = 0; i < 3; i++) nodes.push(new PostgresLogStore((await database.openPool()).db, limits));
    await nodes[0]!.migrate();
    const userId = `user-${randomUUID()}`;

    const WRITERS_PER_NODE = 4;
    const COMMITS_PER_WRITER = 15;
    let writersLeft = nodes.length * WRITERS_PER_NODE;
    let expectedTotal = 0;
    const committed: number[] = [];
    const writers = nodes.flatMap((store, n) =>
      Array.from({ length: WRITERS_PER_NODE }, async (_, w) => {
        for (let c = 0; c < COMMITS_PER_WRITER; c++) {
          const size = 1 + ((n + w + c) % 3);
          expectedTotal += size;
          const events = await store.commit(Array.from({ length: size }, (_, k) => ({ kind: 'log' as const, log: testLog(userId, `N${n}W${w}C${c}.${k}`) })));
          for (const e of events) if (e.kind === 'log') committed.push(e.seq);
        }
        writersLeft--;
      }),
    );

    /** Resumes again and again from what it has seen: by log id (a client's since) or by seq (the hub's catch-up). */
    const reader = async (store: LogStore, by: 'id' | 'seq') => {
      const seen: Array<{ seq: number; id: string }> = [];
      let rounds = 0;
      for (;;) {
        const done = writersLeft === 0; // read once more after the last commit
        const last = seen.at(-1);
        const page =
          by === 'id' && last
            ? await store.readLogs(userId, { from: 'id', id: last.id, limit: 37 })
            : await store.readLogs(userId, { from: 'seq', seq: last?.seq ?? 0, limit: 37 });
        expect(page.truncated).toBe(false);
        for (const { seq, log } of page.logs) {
          // The next log must be exactly the next seq: a bigger one means a smaller seq was not yet
          // visible and this reader would have skipped it for good.
          expect(seq).toBe((seen.at(-1)?.seq ?? 0) + 1);
          seen.push({ seq, id: log.id });
        }
        // Every seq up to headSeq is visible in the same snapshot.
        if (!page.hasMore) expect(seen.at(-1)?.seq ?? 0).toBe(page.headSeq);
        if (done && !page.hasMore) return seen;
        if (++rounds > 100_000) throw new Error('reader did not finish');
      }
    };
    const readers = nodes.flatMap((store) => [reader(store, 'id'), reader(store, 'seq')]);

    await Promise.all(writers);
    const results = await Promise.all(readers);
    const total = committed.length;
    expect(total).toBe(expectedTotal);
    expect([...committed].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const seen of results) expect(seen.map((s) => s.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });
});
