import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { type SqliteDatabaseHandle, openDatabase } from '../../src/store/database.js';
import { SQLITE_DEFAULT_AUTOCHECKPOINT, startWalCheckpointer } from '../../src/store/wal-checkpointer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-wal-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function openFile(name: string): Promise<SqliteDatabaseHandle & { file: string }> {
  const file = path.join(dir, name);
  const opened = await openDatabase({ kind: 'sqlite', path: file });
  if (opened.kind !== 'sqlite') throw new Error('expected SQLite');
  opened.sqlite.prepare('create table blob (k integer primary key, v blob)').run();
  return Object.assign(opened, { file });
}

/** `commits` transactions of `rows` rows of 3 KB on the main connection: about one WAL page per row. */
function write(sqlite: { prepare(sql: string): BetterSqlite3.Statement }, commits: number, rows: number): void {
  const insert = sqlite.prepare('insert into blob (v) values (?)');
  const value = Buffer.alloc(3000, 7);
  for (let c = 0; c < commits; c++) {
    sqlite.prepare('begin immediate').run();
    for (let r = 0; r < rows; r++) insert.run(value);
    sqlite.prepare('commit').run();
  }
}

const walSize = (file: string) => fs.statSync(`${file}-wal`).size;
/** The WAL header's salts (bytes 16–23), which SQLite changes each time it starts the WAL over. */
function walSalt(file: string): string {
  const header = Buffer.alloc(32);
  const fd = fs.openSync(`${file}-wal`, 'r');
  fs.readSync(fd, header, 0, 32, 0);
  fs.closeSync(fd);
  return header.subarray(16, 24).toString('hex');
}

describe('SQLite WAL checkpoints run in a worker thread', () => {
  it('copies the WAL into the file off the main connection, which then starts the WAL over', async () => {
    const opened = await openFile('worker.db');
    await opened.checkpointer!.ready;
    // The main connection checkpoints only as the bound, far past SQLite's 1,000 pages.
    expect(opened.sqlite.prepare('pragma wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 10 * SQLITE_DEFAULT_AUTOCHECKPOINT });

    write(opened.sqlite, 30, 50); // about 1,500 pages: past SQLite's own threshold
    let rows = 1500;
    const before = walSalt(opened.file);
    // Once the worker has copied every frame, the next commit writes the WAL from its beginning again
    // (with new salts). The worker may be mid-copy at any moment, so commit once per catch-up until then.
    while (walSalt(opened.file) === before) {
      await opened.checkpointer!.caughtUp();
      write(opened.sqlite, 1, 1);
      rows += 1;
    }
    expect(walSize(opened.file)).toBeLessThanOrEqual(1600 * 4096);
    await opened.close();

    // The last connection to close checkpointed what was left and removed the WAL; every row is there.
    expect(fs.existsSync(`${opened.file}-wal`)).toBe(false);
    const reader = new BetterSqlite3(opened.file, { readonly: true });
    expect(reader.prepare('select count(*) as n from blob').get()).toEqual({ n: rows });
    reader.close();
  });

  it('close() stops the worker once, and a second close is the same close', async () => {
    const opened = await openFile('close.db');
    await opened.checkpointer!.ready;
    const first = opened.checkpointer!.close();
    expect(opened.checkpointer!.close()).toBe(first);
    await first;
    // The worker's connection is gone: the main connection is the only one, and takes its checkpoints back.
    expect(opened.sqlite.prepare('pragma wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: SQLITE_DEFAULT_AUTOCHECKPOINT });
    await opened.close();
    expect(fs.existsSync(`${opened.file}-wal`)).toBe(false);
  });

  it("hands the checkpoints back to the main connection when the worker cannot run", async () => {
    const pragmas: string[] = [];
    const checkpointer = startWalCheckpointer({ name: path.join(dir, 'no-such-dir', 'x.db'), pragma: (source) => pragmas.push(source) });
    await expect(checkpointer.ready).rejects.toThrow(/exited before its first checkpoint/);
    expect(pragmas).toEqual([`wal_autocheckpoint = ${10 * SQLITE_DEFAULT_AUTOCHECKPOINT}`, `wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`]);
    await checkpointer.close();
  });

  it('bounds the WAL by the main connection when the worker falls behind', async () => {
    const file = path.join(dir, 'behind.db');
    const connection = new BetterSqlite3(file);
    connection.pragma('journal_mode = WAL');
    connection.prepare('create table blob (k integer primary key, v blob)').run();
    // A worker that checkpoints once at its start and then not for a minute: as good as stuck.
    const checkpointer = startWalCheckpointer(connection, { pollMs: 60_000, fallbackPages: 2000 });
    await checkpointer.ready;
    write(connection, 100, 50); // about 5,000 pages
    // The main connection checkpointed at 2,000 pages and started over: the WAL never held much more.
    expect(walSize(file)).toBeLessThan(2200 * 4096);
    await checkpointer.close();
    connection.close();
  });

  it('an in-memory database has no worker', async () => {
    const opened = await openDatabase({ kind: 'sqlite', path: ':memory:' });
    expect(opened.kind === 'sqlite' && opened.checkpointer).toBeUndefined();
    await opened.close();
  });
});
