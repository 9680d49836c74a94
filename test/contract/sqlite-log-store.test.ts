import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { type Database, openDatabase } from '../../src/store/database.js';
import { SqliteLogStore } from '../../src/store/sqlite-log-store.js';
import { logStoreContract } from './log-store.contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-store-'));
let database: Promise<Database> | undefined;
afterAll(async () => {
  await (await database)?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

logStoreContract('SqliteLogStore', async (limits) => {
  database ??= openDatabase({ kind: 'sqlite', path: path.join(dir, 'store.db') });
  const store = new SqliteLogStore((await database).db, limits);
  await store.migrate();
  return store;
});
