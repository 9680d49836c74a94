import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { toNodeHandler } from 'better-auth/node';
import express from 'express';
import type { AppAuth } from './app-auth.js';

export interface AppServer {
  /** http://127.0.0.1:port (the same across stop and restart). */
  url: string;
  port: number;
  /** The path of every request the app got, in order (query strings left off). */
  readonly paths: string[];
  /** While true the app takes requests and never answers them (hung, not down). */
  stalled: boolean;
  /** Stops listening and cuts every connection: the app is down, connects are refused. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  /** Stops for good. Idempotent. */
  close(): Promise<void>;
}

export interface AppServerOptions {
  /** What the app serves besides better-auth (e.g. an embedded livetail's router at /api). */
  mount?(app: express.Express): void;
  /** The app's upgrade listener (e.g. an embedded livetail's handleUpgrade); none: upgrades are cut. */
  onUpgrade?(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The port to listen on; a free one by default. */
  port?: number;
}

/**
 * The stand-in app's HTTP server, an Express app: its better-auth at /api/auth/*, then what `mount`
 * adds, 404 elsewhere. Listens on the loopback interface.
 */
export async function startAppServer(auth: AppAuth, options: AppServerOptions = {}): Promise<AppServer> {
  const app = express();
  const paths: string[] = [];
  const state = { stalled: false };
  app.use((req, _res, next) => {
    paths.push(req.path);
    if (!state.stalled) next();
  });
  app.all('/api/auth/*splat', toNodeHandler(auth));
  options.mount?.(app);
  app.use((_req, res) => void res.status(404).end());

  let server: http.Server | undefined;
  const listen = async (on: number) => {
    const s = http.createServer(app);
    s.on('upgrade', (req, socket, head) => (options.onUpgrade ? options.onUpgrade(req, socket, head) : socket.destroy()));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(on, '127.0.0.1', () => resolve());
    });
    server = s;
    return (s.address() as AddressInfo).port;
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  };

  const bound = await listen(options.port ?? 0);
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    paths,
    get stalled() {
      return state.stalled;
    },
    set stalled(value: boolean) {
      state.stalled = value;
    },
    stop,
    restart: async () => {
      if (closed) throw new Error('the app server is closed');
      if (!server) await listen(bound);
    },
    close: () => (closed ??= stop()),
  };
}
