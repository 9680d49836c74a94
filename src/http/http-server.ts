import http from 'node:http';
import type net from 'node:net';

/** How the HTTP server bounds slow and numerous clients (HTTP_* and MAX_CONNECTIONS_PER_ADDRESS). */
export interface HttpServerLimits {
  /** A request (an upgrade too) whose headers are not complete by then is answered 408 and closed. */
  headersTimeoutMs: number;
  /** A request whose body is not complete by then is answered 408 and closed. */
  requestTimeoutMs: number;
  /** Open TCP connections per client address; more are closed at once. 0: no cap. */
  maxConnectionsPerAddress: number;
  /** Called for each connection closed at once by the cap. */
  onRefused?: () => void;
}

/**
 * An idle keep-alive connection is closed after this long (Node's default, set here so it is stated):
 * long enough for a browser's next request, short enough that idle connections do not pile up.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 5000;

/**
 * The HTTP server: Node's own timeouts against slowloris (headers trickled a byte at a time, a body that
 * never ends, upgrades that never complete their headers), checked often enough that they hold to within
 * a second rather than Node's default 30 s sweep, and a cap on concurrent connections per client address.
 *
 * The cap counts TCP connections by their peer address (IPv4-mapped IPv6 folded into IPv4); a
 * connection over it is destroyed before a byte is read, answering nothing: refusing at the TCP level
 * costs the least, and a client holding that many connections is not a browser that waits for an answer.
 * Behind a proxy every connection comes from the proxy, so pass 0 (src/server/start-livetail.ts does with TRUST_PROXY).
 */
export function createHttpServer(listener: http.RequestListener, limits: HttpServerLimits): http.Server {
  const server = http.createServer(
    { connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))) },
    listener,
  );
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  if (limits.maxConnectionsPerAddress > 0) capConnectionsPerAddress(server, limits.maxConnectionsPerAddress, limits.onRefused);
  return server;
}

function capConnectionsPerAddress(server: http.Server, max: number, onRefused: (() => void) | undefined): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: net.Socket) => {
    const address = socket.remoteAddress?.replace(/^::ffff:/, '');
    if (address === undefined) return socket.destroy(); // already gone
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      onRefused?.();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = open.get(address)! - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
