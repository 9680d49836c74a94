import http from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { randomUUID } from 'node:crypto';
import { benchLog } from '../lib/poster.js';
import { ingestEndpoint, portFromEnv } from './ingest-endpoint.js';

/**
 * The practical limit of livetail's own stack: node http + ws and nothing else. Sockets join a per-user
 * set from `?userId=`; POST /api/logs stringifies each message once and sends the same buffer to every
 * socket of its user. No auth, no store, no heartbeat. PERMESSAGE_DEFLATE=true accepts compression.
 *
 * With BARE_WS_INITIAL_LOGS=n (W4's second reference) every new socket is also sent, as it opens, one
 * message of the size of livetail's initial-logs with n stored logs: the same bytes to write per connect,
 * made once, nothing read or checked.
 */
const users = new Map<string, Set<WebSocket>>();
const initialLogs = initialLogsMessage(Number(process.env.BARE_WS_INITIAL_LOGS ?? 0));

const wss = new WebSocketServer({
  noServer: true,
  clientTracking: false,
  perMessageDeflate: process.env.PERMESSAGE_DEFLATE === 'true',
});

const server = http.createServer(
  ingestEndpoint((userId, message) => {
    const sockets = users.get(userId);
    if (!sockets) return;
    const payload = Buffer.from(JSON.stringify(message));
    for (const ws of sockets) ws.send(payload, { binary: false });
  }),
);

server.on('upgrade', (req, socket, head) => {
  const userId = new URL(req.url ?? '/', 'http://localhost').searchParams.get('userId');
  if (!userId) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let sockets = users.get(userId);
    if (!sockets) users.set(userId, (sockets = new Set()));
    sockets.add(ws);
    if (initialLogs) ws.send(initialLogs, { binary: false });
    ws.on('error', () => {});
    ws.on('close', () => {
      sockets.delete(ws);
      if (sockets.size === 0 && users.get(userId) === sockets) users.delete(userId);
    });
  });
});

/** `{"type":"initial-logs","logs":[…],"timestamp":…}` with `count` logs as the bench stores them (fill-store.ts). */
function initialLogsMessage(count: number): Buffer | undefined {
  if (!(count > 0)) return undefined;
  const timestamp = new Date().toISOString();
  const logs = Array.from({ length: count }, () => ({ id: randomUUID(), timestamp, ...benchLog('00000000-0000-0000-0000-000000000000') }));
  return Buffer.from(JSON.stringify({ type: 'initial-logs', logs, timestamp }));
}

server.listen(portFromEnv(), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
