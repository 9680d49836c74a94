import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { signIn, signUp } from '../helpers/http.js';
import { schemaOf, withoutLivetailTables } from '../helpers/pg-schema.js';
import { LivetailProcess, PROCESS_TEST_TIMEOUT_MS, processEnv, tempDir } from '../helpers/process.js';
import { type TestDatabase, createTestDatabase, serviceAvailable } from '../helpers/services.js';

const available = await serviceAvailable('postgres');

/**
 * An app's better-auth tables under the default names with snake_case columns (`fields` mappings), and
 * one user: what livetail's built-in auth would have had to alter (it expects `emailVerified`,
 * `expiresAt`, `userId`...).
 */
const APP_TABLES = [
  `create table "user" (id text primary key, name text not null, email text not null unique, email_verified boolean not null default false,
     image text, created_at timestamp not null default current_timestamp, updated_at timestamp not null default current_timestamp)`,
  `create table "session" (id text primary key, expires_at timestamp not null, token text not null unique,
     created_at timestamp not null default current_timestamp, updated_at timestamp not null default current_timestamp,
     ip_address text, user_agent text, user_id text not null references "user"(id) on delete cascade)`,
  `insert into "user" (id, name, email) values ('app-user-1', 'App User', 'app@example.com')`,
];

/** The refusal: exit code 2 and one line on stderr naming the table and the proxy mode. */
async function expectRefused(proc: LivetailProcess): Promise<string> {
  const started = proc.listening().then(
    () => true,
    () => false,
  );
  expect(await started, 'livetail started on a database with an app’s auth tables').toBe(false);
  const exit = await proc.exited;
  const lines = proc.stderr.filter((line) => line.trim() !== '');
  expect(exit.code, lines.join('\n')).toBe(2);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^livetail could not start: DATABASE_URL already has a table "user" that livetail's built-in auth would have to alter/);
  expect(lines[0]).toMatch(/proxy mode: set AUTH_SESSION_URL=/);
  return lines[0]!;
}

describe.skipIf(!available)('built-in auth mode on PostgreSQL: only auth tables of its own', () => {
  const databases: TestDatabase[] = [];
  const procs: LivetailProcess[] = [];
  afterEach(async () => {
    for (const proc of procs.splice(0)) await proc.kill();
    for (const database of databases.splice(0)) await database.drop();
  });

  const freshDatabase = async (statements: string[] = []) => {
    const database = await createTestDatabase();
    databases.push(database);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.end();
    }
    return database;
  };
  const start = (env: Record<string, string>) => {
    const proc = LivetailProcess.start(processEnv(tempDir(), env));
    procs.push(proc);
    return proc;
  };
  /** Starts, checks a sign-in works, and stops gracefully. */
  const serveAndStop = async (env: Record<string, string>, check: (url: string) => Promise<void>) => {
    const proc = start(env);
    await check(await proc.listening());
    proc.signal('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  };

  it(
    'refuses a database whose user/session tables are an app’s (snake_case), with exit code 2 and one line, and leaves it as it was',
    async () => {
      const database = await freshDatabase(APP_TABLES);
      const before = await schemaOf(database.url);
      await expectRefused(start({ DATABASE_URL: database.url }));
      // Nothing created, nothing altered: not even livetail's own tables.
      expect(await schemaOf(database.url)).toEqual(before);
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        expect((await client.query('select id, email_verified from "user"')).rows).toEqual([{ id: 'app-user-1', email_verified: false }]);
      } finally {
        await client.end();
      }
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'refuses it too after livetail ran beside the app there in proxy mode (its migration table proves nothing)',
    async () => {
      const database = await freshDatabase(APP_TABLES);
      const before = await schemaOf(database.url);
      // Proxy mode creates livetail_* tables only; the app does not have to answer for livetail to start.
      await serveAndStop({ DATABASE_URL: database.url, AUTH_SESSION_URL: 'http://127.0.0.1:9/api/auth/get-session' }, async () => {});
      const beside = await schemaOf(database.url);
      expect(beside.tables).toContain('livetail_migration');
      expect(withoutLivetailTables(beside)).toEqual(withoutLivetailTables(before));

      await expectRefused(start({ DATABASE_URL: database.url }));
      expect(await schemaOf(database.url)).toEqual(beside);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'starts on a fresh database, again on the database it made, and on one made before the ownership marker existed',
    async () => {
      const database = await freshDatabase();
      const env = { DATABASE_URL: database.url };
      let user: Awaited<ReturnType<typeof signUp>> | undefined;
      await serveAndStop(env, async (url) => {
        user = await signUp(url);
      });
      const made = await schemaOf(database.url);
      expect(made.tables).toEqual(expect.arrayContaining(['user', 'session', 'account', 'verification', 'livetail_meta', 'livetail_log']));

      await serveAndStop(env, async (url) => {
        expect(await signIn(url, user!)).toMatch(/session_token=/);
      });
      expect(await schemaOf(database.url)).toEqual(made);

      // A database of a release before livetail_meta: its auth tables are recognised by their shape.
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query('drop table livetail_meta');
      await client.end();
      await serveAndStop(env, async (url) => {
        expect(await signIn(url, user!)).toMatch(/session_token=/);
      });
      expect(await schemaOf(database.url)).toEqual(made);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

describe('built-in auth mode on SQLite: an app’s auth tables are refused the same way', () => {
  it(
    'exits with code 2 and one line naming the table, the file unchanged',
    async () => {
      const dir = tempDir();
      const file = path.join(dir, 'app.db');
      const db = new Database(file);
      for (const statement of APP_TABLES) db.exec(statement.replace(/timestamp/g, 'date'));
      const schema = () => db.prepare('select type, name, sql from sqlite_master order by name').all();
      const before = schema();
      const proc = LivetailProcess.start(processEnv(dir, { DATABASE_URL: `file:${file}` }));
      try {
        await expectRefused(proc);
      } finally {
        await proc.kill();
      }
      expect(schema()).toEqual(before);
      db.close();
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
