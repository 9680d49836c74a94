import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { api, entry, signIn, signUp } from '../helpers/http.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { type TestDatabase, createTestDatabase, serviceAvailable } from '../helpers/services.js';
import { TestSocket } from '../helpers/ws-client.js';

const available = await serviceAvailable('postgres');

describe.skipIf(!available)('DATABASE_URL=postgres://…', () => {
  const servers: TestServer[] = [];
  let database: TestDatabase | undefined;
  afterAll(async () => {
    for (const server of servers) await server.close();
    await database?.drop();
  });

  it('starts several nodes at once on a fresh database: each migration runs once and every node serves', async () => {
    database = await createTestDatabase();
    const started = await Promise.all(Array.from({ length: 4 }, () => startTestServer({ DATABASE_URL: database!.url })));
    servers.push(...started);
    const [a, b, c, d] = started as [TestServer, TestServer, TestServer, TestServer];

    // better-auth on PostgreSQL: sign up on one node, sign in on another, the session works on a third.
    const user = await signUp(a.url);
    const cookie = await signIn(b.url, user);
    const res = await api(c.url, 'POST', '/api/logs', { cookie }, entry({ command: 'ON-PG' }));
    expect(res.status).toBe(201);
    // The log store and the job state on PostgreSQL.
    expect((await api(d.url, 'POST', '/api/jobs/events', { cookie }, { jobId: 'j1', status: 'active' })).status).toBe(201);
    const socket = await TestSocket.open(d.wsUrl, { cookie, query: 'channels=all' });
    const initial = await socket.next('initial-logs');
    expect(initial.logs.map((l) => l.command)).toEqual(['ON-PG']);
    expect((await socket.next('initial-jobs')).jobs).toMatchObject([{ jobId: 'j1', status: 'active' }]);
    await socket.close();

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const migrations = await client.query('select name from livetail_migration order by name');
      expect(migrations.rows.map((r) => r.name)).toEqual(['0001_streams_logs_jobs', '0002_sqlite_log_without_rowid', '0003_idempotency_keys', '0004_postgres_append_logs']);
      const tables = await client.query(`select table_name from information_schema.tables where table_schema = 'public' order by 1`);
      expect(tables.rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(['account', 'livetail_idempotency', 'livetail_job', 'livetail_log', 'livetail_stream', 'session', 'user', 'verification']),
      );
    } finally {
      await client.end();
    }
  });
});
