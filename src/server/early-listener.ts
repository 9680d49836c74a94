import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import { type HttpServerLimits, createHttpServer } from '../http/http-server.js';

/**
 * Connections the kernel may hold for the server before it accepts them (capped by net.core.somaxconn).
 * Node's default, 511, is what a restart's reconnect storm overflows: every client reconnects within a
 * second or two while the node is still busy with the first ones, and a SYN that finds the queue full is
 * dropped, so that client waits for its SYN to be sent again, 1, 3, 7, 15 and 31 s later, long after the
 * node is idle (the storm's last clients came back 31 s after the others in one run; the kernel counted the
 * drops in ListenOverflows). A queued connection costs the kernel a few hundred bytes.
 */
export const LISTEN_BACKLOG = 8192;

/** The HTTP server's bounds from the configuration (src/main.ts binds the port with the same). */
export function httpLimits(config: Config): Omit<HttpServerLimits, 'onRefused'> {
  return {
    headersTimeoutMs: config.http.headersTimeoutMs,
    requestTimeoutMs: config.http.requestTimeoutMs,
    // Behind the proxy TRUST_PROXY names, every connection comes from the proxy's address.
    maxConnectionsPerAddress: config.trustProxy ? 0 : config.http.maxConnectionsPerAddress,
  };
}

/** The handlers the started node takes over the server with. */
export interface NodeHandlers {
  request: http.RequestListener;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

/**
 * The most requests and upgrades held while the node starts; more are closed at once (a client
 * reconnects with its backoff). About a restart's storm on one node, at a few KB each.
 */
export const MAX_HELD = 20_000;

/**
 * The standalone server's port, bound before the node's modules load and its store opens: a restart's
 * reconnect storm then finds a listening port instead of refused connects, so no client's backoff grows
 * while the node starts (loading better-auth alone takes most of a second). What arrives meanwhile is held,
 * not answered: upgrades and requests are handed to the node's handlers, in order, once it is ready.
 * Lightweight on purpose (node:http only): src/main.ts calls it before importing the rest.
 */
export class EarlyListener {
  readonly server: http.Server;
  /** How many requests and upgrades wait for the node (tests). */
  get heldCount(): number {
    return this.held.length;
  }

  private readonly held: Array<{ kind: 'request'; req: http.IncomingMessage; res: http.ServerResponse } | { kind: 'upgrade'; req: http.IncomingMessage; socket: Duplex; head: Buffer }> = [];
  private handlers: NodeHandlers | undefined;
  /** Connections the per-address cap refused before the node could count them. */
  private refusedEarly = 0;
  private onRefused: (() => void) | undefined;

  constructor(
    limits: Omit<HttpServerLimits, 'onRefused'>,
    private readonly maxHeld = MAX_HELD,
  ) {
    this.server = createHttpServer((req, res) => this.request(req, res), {
      ...limits,
      onRefused: () => (this.onRefused ? this.onRefused() : this.refusedEarly++),
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** Binds the port (the same errors as a late listen: EADDRINUSE, EACCES). */
  listen(options: { port: number; host: string | undefined; backlog: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(options, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** The node is ready: everything held goes to its handlers, in arrival order, and so does all that follows. */
  handOver(handlers: NodeHandlers, onRefused: () => void): void {
    this.handlers = handlers;
    this.onRefused = onRefused;
    for (let i = 0; i < this.refusedEarly; i++) onRefused();
    for (const item of this.held.splice(0)) {
      // A client that gave up meanwhile may not be noticed here (nothing reads a held socket): the node's
      // handlers meet its dead socket as they meet any other.
      if (item.req.socket.destroyed) continue;
      if (item.kind === 'request') handlers.request(item.req, item.res);
      else handlers.upgrade(item.req, item.socket, item.head);
    }
  }

  /** The node could not start: what is held is dropped and the port closed. */
  fail(): void {
    for (const item of this.held.splice(0)) (item.kind === 'request' ? item.req.socket : item.socket).destroy();
    this.server.close();
    this.server.closeAllConnections();
  }

  private request(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.handlers) return this.handlers.request(req, res);
    if (this.held.length >= this.maxHeld) return void req.socket.destroy();
    this.held.push({ kind: 'request', req, res });
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.handlers) return this.handlers.upgrade(req, socket, head);
    if (this.held.length >= this.maxHeld) return void socket.destroy();
    socket.on('error', () => socket.destroy()); // a reset while held must not throw
    this.held.push({ kind: 'upgrade', req, socket, head });
  }
}
