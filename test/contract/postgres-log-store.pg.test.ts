import { describe } from 'vitest';
import type { LogStoreLimits } from '../../src/store/log-store.js';
import { PostgresLogStore } from '../../src/store/postgres-log-store.js';
import { fileDatabase } from '../helpers/pg-file-database.js';
import { serviceAvailable } from '../helpers/services.js';
import { logStoreContract } from './log-store.contract.js';

const available = await serviceAvailable('postgres');
const database = fileDatabase();

/** A store on its own pool, as a separate node would have, on this file's fresh database. */
async function nodeStore(limits: LogStoreLimits): Promise<PostgresLogStore> {
  const store = new PostgresLogStore((await database.openPool()).db, limits);
  await store.migrate();
  return store;
}

describe.skipIf(!available)('PostgreSQL', () => {
  logStoreContract('PostgresLogStore', nodeStore, { createPeer: nodeStore });
});
