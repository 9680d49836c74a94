import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { toNodeHandler } from 'better-auth/node';
import express from 'express';
import { pino } from 'pino';
import { createLivetail, type Livetail } from '../../src/core/create-livetail.js';
import type { LivetailOptions } from '../../src/core/options.js';
import type { BetterAuthInstance } from '../../src/sessions/better-auth-session-resolver.js';
import type { AppAuth } from './app-auth.js';

export interface EmbeddedApp {
  lt: Livetail;
  /** http://127.0.0.1:port */
  url: string;
  /** ws://127.0.0.1:port/ws */
  wsUrl: string;
  server: http.Server;
  /** What livetail logged, one JSON object per line. */
  logLines: string[];
  /** Closes livetail first (as an app's shutdown should), then the app's server. Idempotent. */
  close(): Promise<void>;
}

/**
 * A stand-in app that mounts livetail the way docs/embedding.md tells an adopter to: an Express app with
 * its better-auth at /api/auth, `createLivetail({ auth, database })`, the connect check, `lt.router()` at
 * /api, and the upgrades of its own http.Server passed to `lt.handleUpgrade` (any other path: refused).
 */
export async function startEmbeddedApp(auth: AppAuth | BetterAuthInstance, options: Omit<LivetailOptions, 'auth'>): Promise<EmbeddedApp> {
  const logLines: string[] = [];
  const logger = pino(
    { level: 'info', base: { component: 'livetail' } },
    new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line) logLines.push(line);
        done();
      },
    }),
  );
  const lt = await createLivetail({
    auth: auth as BetterAuthInstance,
    logger,
    // Generous limits, as the standalone tests have: none of these tests is about them.
    upgradeRateLimit: 100_000,
    rateLimitPerSecond: 10_000,
    rateLimitBurst: 10_000,
    ...options,
  });
  const app = express();
  app.all('/api/auth/*splat', toNodeHandler(auth as AppAuth));
  app.use((req, res, next) => {
    if (!lt.handleRequest(req, res)) next();
  });
  app.use('/api', lt.router());
  app.use((_req, res) => void res.status(404).end());
  const server = http.createServer(app);
  server.on('upgrade', (req, socket, head) => {
    if (!lt.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  return {
    lt,
    url,
    wsUrl: `${url.replace('http', 'ws')}${options.path ?? '/ws'}`,
    server,
    logLines,
    close: () =>
      (closed ??= (async () => {
        await lt.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })()),
  };
}

/** The app's own sign-out over HTTP, from its trusted origin (better-auth checks Origin on cookie POSTs). */
export async function httpSignOut(appUrl: string, cookie: string): Promise<Response> {
  return fetch(`${appUrl}/api/auth/sign-out`, {
    method: 'POST',
    headers: { cookie, origin: 'http://app.test', 'content-type': 'application/json' },
    body: '{}',
  });
}
