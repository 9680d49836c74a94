import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type LivetailServer, startLivetail } from '../../src/server/start-livetail.js';
import { type TestDatabase, createTestDatabase } from './services.js';

export const TEST_ORIGIN = 'http://livetail.test';
export const INGEST_TOKEN = 'test-ingest-token-0123456789abcdef';
export const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export interface TestServer {
  node: LivetailServer;
  /** http://localhost:port */
  url: string;
  /** ws://localhost:port/ws */
  wsUrl: string;
  dir: string;
  /** Everything the server logged, one JSON object per line. */
  logLines: string[];
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The store startTestServer puts nodes on: vitest.config.ts runs the integration suite once per store,
 * setting LIVETAIL_TEST_STORE in each project.
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.LIVETAIL_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** With PostgreSQL, each test file gets a database of its own, created on first use and dropped after the file. */
let fileDatabase: Promise<TestDatabase> | undefined;
if (TEST_STORE === 'postgres') {
  afterAll(async () => {
    await (await fileDatabase)?.drop();
  });
}

async function databaseUrl(dir: string): Promise<string> {
  if (TEST_STORE === 'sqlite') return `file:${path.join(dir, 'livetail.db')}`;
  fileDatabase ??= createTestDatabase();
  return (await fileDatabase).url;
}

/**
 * Starts a real livetail node on a free port, the same way main.ts does, with a fresh SQLite file or
 * (in the postgres project) on this test file's PostgreSQL database; a restart on `reuseDir` finds the
 * same data either way.
 * BASE_URL is a fixed origin so tests need not know the port before start; requests send it as Origin.
 */
export async function startTestServer(env: Record<string, string> = {}, reuseDir?: string): Promise<TestServer> {
  const dir = reuseDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-test-'));
  const fullEnv: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: env.DATABASE_URL ?? (await databaseUrl(dir)),
    DATA_DIR: dir,
    BETTER_AUTH_SECRET: SECRET,
    BASE_URL: TEST_ORIGIN,
    INGEST_TOKEN,
    LOG_LEVEL: 'info',
    // Generous defaults so unrelated tests never trip the limits; limit tests lower them.
    UPGRADE_RATE_LIMIT: '100000',
    RATE_LIMIT_PER_SECOND: '10000',
    RATE_LIMIT_BURST: '10000',
    // Load tests open hundreds of connections from 127.0.0.1; the per-address cap has tests of its own.
    MAX_CONNECTIONS_PER_ADDRESS: '0',
    ...env,
  };
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logLines.push(line);
      done();
    },
  });
  const node = await startLivetail(loadConfig(fullEnv), { logDestination: sink });
  return {
    node,
    url: `http://127.0.0.1:${node.port}`,
    wsUrl: `ws://127.0.0.1:${node.port}/ws`,
    dir,
    logLines,
    env: fullEnv,
    close: () => node.close(),
  };
}

/**
 * For tests that each start their own servers (restarts, special configuration): returns a start function;
 * every server it started is closed after each test of the calling describe block.
 */
export function serversPerTest(): (env?: Record<string, string>, reuseDir?: string) => Promise<TestServer> {
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });
  return async (env = {}, reuseDir) => {
    const server = await startTestServer(env, reuseDir);
    servers.push(server);
    return server;
  };
}
