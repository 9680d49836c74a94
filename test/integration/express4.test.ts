import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from 'better-auth/node';
import express4 from 'express4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLivetail, type Livetail } from '../../src/core/create-livetail.js';
import { type AppAuth, appSignUp, createAppAuth } from '../helpers/app-auth.js';
import { entry } from '../helpers/http.js';
import { TestSocket } from '../helpers/ws-client.js';

/** The request an app's page sends: its cookie, from the app's origin. */
const asUser = (cookie: string) => ({ cookie, origin: 'http://app.test' });

describe('livetail mounted in an Express 4 app (express@4.21+: lt.router() and handleUpgrade)', () => {
  let auth: AppAuth;
  let close: () => Promise<void>;
  let lt: Livetail;
  let url: string;

  beforeAll(async () => {
    const app = await createAppAuth();
    auth = app.auth;
    lt = await createLivetail({ auth, database: app.database });
    const server4 = express4();
    // Express 4's own path syntax for the app's routes; livetail's router is mounted as in Express 5.
    server4.all('/api/auth/*', toNodeHandler(auth));
    server4.use('/api', lt.router());
    server4.use((_req, res) => void res.status(404).json({ app: 'not found' }));
    const server = http.createServer(server4);
    server.on('upgrade', (req, socket, head) => {
      if (!lt.handleUpgrade(req, socket, head)) socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      await lt.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      app.database.close();
    };
  });
  afterAll(() => close?.());

  it('a socket, a POST /api/logs that it receives live, and a GET /api/logs that returns it', async () => {
    const user = await appSignUp(auth);
    const socket = await TestSocket.ready(`${url.replace('http', 'ws')}/ws`, { cookie: user.cookie });
    const posted = await fetch(`${url}/api/logs`, {
      method: 'POST',
      headers: { ...asUser(user.cookie), 'content-type': 'application/json' },
      body: JSON.stringify(entry({ command: 'EXPRESS4' })),
    });
    expect(posted.status).toBe(201);
    expect(await socket.next('log')).toMatchObject({ type: 'log', log: { command: 'EXPRESS4', userId: user.userId } });

    const read = await fetch(`${url}/api/logs?limit=10`, { headers: asUser(user.cookie) });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ logs: [expect.objectContaining({ command: 'EXPRESS4' })] });
    await socket.close();
  });

  it('livetail’s errors are answered in Express 4 too (an async refusal, a bad body), and its unknown paths reach the app', async () => {
    const user = await appSignUp(auth);
    const unauthenticated = await fetch(`${url}/api/logs`);
    expect(unauthenticated.status).toBe(401);
    expect(await unauthenticated.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    const badJson = await fetch(`${url}/api/logs`, { method: 'POST', headers: { ...asUser(user.cookie), 'content-type': 'application/json' }, body: '{' });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ code: 'INVALID_JSON' });
    const appRoute = await fetch(`${url}/api/app-only`);
    expect(appRoute.status).toBe(404);
    expect(await appRoute.json()).toEqual({ app: 'not found' });
  });
});
