import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from 'better-auth/node';
import type { AppAuth } from './app-auth.js';

export interface AppServer {
  /** http://127.0.0.1:port */
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/**
 * The stand-in app's HTTP server: its better-auth at /api/auth/*, 404 elsewhere unless `handler` answers.
 * Listens on a free loopback port.
 */
export async function startAppServer(auth: AppAuth, handler?: http.RequestListener): Promise<AppServer> {
  const authHandler = toNodeHandler(auth);
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/api/auth/')) return void authHandler(req, res);
    if (handler) return handler(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  return {
    url,
    server,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
