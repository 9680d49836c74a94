import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { api, signUp } from '../helpers/http.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import { TEST_STORE, serversPerTest } from '../helpers/server.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

describe('health and readiness', () => {
  const start = serversPerTest();

  it('answers /healthz with 200 while the process serves', async () => {
    const server = await start();
    const res = await api(server.url, 'GET', '/healthz', {});
    expect(res).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('answers /readyz with 200 and the checks it ran when the store answers', async () => {
    const server = await start();
    const res = await api(server.url, 'GET', '/readyz', {});
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ready');
    expect(res.body.checks).toContain('store');
  });

  it('answers /readyz with 503 naming the store when the database is gone, while /healthz stays 200', async () => {
    const server = await start();
    await server.node.app.database.close();
    const res = await api(server.url, 'GET', '/readyz', {});
    expect(res).toMatchObject({ status: 503, body: { status: 'unavailable', error: 'Not answering: store', down: ['store'] } });
    expect((await api(server.url, 'GET', '/healthz', {})).status).toBe(200);
    // The reason goes to the server's log, with the request id, not to the unauthenticated caller.
    const logged = server.logLines.map((l) => JSON.parse(l)).find((l) => l.event === 'not-ready');
    expect(logged).toMatchObject({ level: 40, down: ['store'], reasons: { store: expect.any(String) }, req: { id: res.headers.get('x-request-id') } });
  });

  it('turns /readyz to 503 at once when draining, and refuses new sockets with 503 while open ones stay', async () => {
    const server = await start();
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    server.node.app.drain();
    const res = await api(server.url, 'GET', '/readyz', {});
    expect(res).toMatchObject({ status: 503, body: { status: 'shutting-down', down: [] } });
    const refused = await refusedUpgrade(server.wsUrl, { cookie: user.cookie });
    expect(refused).toMatchObject({ status: 503, body: { code: 'SHUTTING_DOWN' } });
    await socket.roundTrip();
    await socket.close();
  });

  it.runIf(TEST_STORE === 'postgres')('reports PostgreSQL down while its database refuses connections, and ready again after', async () => {
    const server = await start();
    const database = new URL(server.env.DATABASE_URL!).pathname.slice(1);
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.query(`alter database ${database} allow_connections false`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
      const down = await api(server.url, 'GET', '/readyz', {});
      expect(down).toMatchObject({ status: 503, body: { status: 'unavailable', down: ['store'] } });
      await admin.query(`alter database ${database} allow_connections true`);
      const up = await api(server.url, 'GET', '/readyz', {});
      expect(up).toMatchObject({ status: 200, body: { status: 'ready' } });
    } finally {
      await admin.query(`alter database ${database} allow_connections true`).catch(() => {});
      await admin.end();
    }
  });
});
