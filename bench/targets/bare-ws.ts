import http from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { ingestEndpoint, portFromEnv } from './ingest-endpoint.js';

/**
 * The practical limit of livetail's own stack: node http + ws and nothing else. Sockets join a per-user
 * set from `?userId=`; POST /api/logs stringifies each message once and sends the same buffer to every
 * socket of its user. No auth, no store, no heartbeat. PERMESSAGE_DEFLATE=true accepts compression.
 */
const users = new Map<string, Set<WebSocket>>();

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
    ws.on('error', () => {});
    ws.on('close', () => {
      sockets.delete(ws);
      if (sockets.size === 0 && users.get(userId) === sockets) users.delete(userId);
    });
  });
});

server.listen(portFromEnv(), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
