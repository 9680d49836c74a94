import http from 'node:http';
import { Server } from 'socket.io';
import { ingestEndpoint, portFromEnv } from './ingest-endpoint.js';

/**
 * What users would otherwise pick: Socket.IO 4 with a room per user (`?userId=` on the handshake), fed
 * by the same POST /api/logs as the other targets. `io.to(user).emit` encodes each message once per
 * broadcast. WebSocket transport only, as the benchmark clients use no polling.
 */
const server = http.createServer(ingestEndpoint((userId, message) => io.to(userId).emit('log', message)));

const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: process.env.PERMESSAGE_DEFLATE === 'true',
});

io.on('connection', (socket) => {
  const userId = socket.handshake.query.userId;
  if (typeof userId !== 'string' || userId === '') socket.disconnect(true);
  else void socket.join(userId);
});

server.listen(portFromEnv(), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
