import { describe, expect, it } from 'vitest';
import { api, entry, service, signIn, signUp } from '../helpers/http.js';
import { serversPerTest } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

describe('persistence and exactly-once delivery', () => {
  const start = serversPerTest();

  it('keeps logs, users and sessions across a restart on the same database file', async () => {
    const first = await start();
    const user = await signUp(first.url);
    await api(first.url, 'POST', '/api/logs', { cookie: user.cookie }, [entry({ command: 'BEFORE1' }), entry({ command: 'BEFORE2' })]);
    await first.close();

    const second = await start({}, first.dir);
    const socket = await TestSocket.open(second.wsUrl, { cookie: user.cookie });
    const initial = await socket.next('initial-logs');
    expect(initial.logs.map((l) => l.command)).toEqual(['BEFORE1', 'BEFORE2']);
    await socket.close();
    expect(await signIn(second.url, user)).toContain('session_token=');
  });

  it('keeps at most MAX_LOGS_PER_USER logs per user, trimming the oldest', async () => {
    const server = await start({ MAX_LOGS_PER_USER: '5', INITIAL_LOGS: '100' });
    const user = await signUp(server.url);
    for (let i = 0; i < 3; i++) {
      await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, [0, 1, 2].map((j) => entry({ command: `C${i * 3 + j}` })));
    }
    const res = await api(server.url, 'GET', '/api/logs?limit=5', { cookie: user.cookie });
    expect(res.body.logs.map((l: any) => l.command)).toEqual(['C4', 'C5', 'C6', 'C7', 'C8']);
    const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie });
    expect((await socket.next('initial-logs')).logs).toHaveLength(5);
    await socket.close();
  });

  it('gives a socket that connects while logs flow every log exactly once across initial-logs and the stream', async () => {
    const server = await start({ INITIAL_LOGS: '100000', MAX_LOGS_PER_USER: '100000' });
    const user = await signUp(server.url);
    const total = 600;
    const opening: Array<Promise<TestSocket>> = [];
    // A producer posting small batches back to back; every few batches a socket starts joining, without
    // waiting, so joins overlap commits and broadcasts.
    const producer = (async () => {
      for (let sent = 0; sent < total; sent += 5) {
        const batch = Array.from({ length: 5 }, (_, i) => entry({ userId: user.userId, command: `N${sent + i}` }));
        if (sent % 40 === 0 && sent < total - 40) opening.push(TestSocket.open(server.wsUrl, { cookie: user.cookie }));
        const res = await api(server.url, 'POST', '/api/logs', service, batch);
        if (res.status !== 201) throw new Error(`ingest failed: ${res.status}`);
      }
    })();
    await producer;
    const sockets = await Promise.all(opening);
    expect(sockets.length).toBe(14);
    const expected = Array.from({ length: total }, (_, i) => `N${i}`);
    for (const socket of sockets) {
      const initial = await socket.next('initial-logs');
      await socket.until('log', total - initial.logs.length);
      await socket.roundTrip();
      const seen = [...initial.logs, ...socket.all('log').map((m) => m.log)].map((l) => l.command);
      expect(seen).toEqual(expected);
    }
    for (const socket of sockets) await socket.close();
  });
});
