// An Express 5 app with better-auth of its own, with livetail mounted beside its routes. Run it with
// `npm start` (PORT, BASE_URL, DATABASE_FILE, BETTER_AUTH_SECRET, REDIS_URL are optional) and open
// http://localhost:3000.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { fromNodeHeaders, toNodeHandler } from 'better-auth/node';
import express from 'express';
import { createLivetail } from 'livetail';
import { WebSocketServer } from 'ws';
import { createAuth } from './auth.js';
import { selectMailbox } from './fake-imap.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.PORT ?? 3000);
const baseURL = process.env.BASE_URL ?? `http://localhost:${port}`;
const secret = process.env.BETTER_AUTH_SECRET ?? 'example-only-secret-change-me-0123456789abcdef';
const file = process.env.DATABASE_FILE ?? path.join(here, 'data', 'app.db');
fs.mkdirSync(path.dirname(file), { recursive: true });
const db = new Database(file);
db.pragma('journal_mode = WAL');

const auth = await createAuth(db, { baseURL, secret });
const app = express();
app.all('/api/auth/*splat', toNodeHandler(auth));

// livetail: its tables in the app's database, sessions from the app's better-auth.
const lt = await createLivetail({ auth, database: db, redis: process.env.REDIS_URL || undefined });
app.use('/api', lt.router()); // POST/GET/DELETE /api/logs, POST /api/jobs/events, GET /api/jobs
app.use((req, res, next) => (lt.handleRequest(req, res) ? undefined : next())); // GET /ws: why an upgrade would be refused
const server = http.createServer(app);
server.on('upgrade', (req, socket, head) => {
  if (!lt.handleUpgrade(req, socket, head)) appUpgrade(req, socket, head);
});

// The app's own route: it runs an IMAP operation for the signed-in user and logs it with lt.logs.log.
app.post('/api/mailbox/select', express.json(), async (req, res) => {
  const session = await auth.api.getSession({ headers: fromNodeHeaders(req.headers) });
  if (!session) return void res.status(401).json({ error: 'sign in first' });
  const mailbox = typeof req.body?.mailbox === 'string' && req.body.mailbox ? req.body.mailbox : 'INBOX';
  const { command, ...data } = await selectMailbox(mailbox);
  const [log] = await lt.logs.log(session.user.id, { emailAccountId: `imap-${session.user.id}`, level: 'info', command, data: { ...data, error: null } });
  res.json({ logged: log.id });
});

// The app's own WebSocket endpoint beside livetail's: an echo at /app-ws.
const appSockets = new WebSocketServer({ noServer: true });
appSockets.on('connection', (ws) => ws.on('message', (message) => ws.send(`echo: ${message}`)));
function appUpgrade(req, socket, head) {
  if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/app-ws') return void socket.destroy();
  appSockets.handleUpgrade(req, socket, head, (ws) => appSockets.emit('connection', ws, req));
}

// The page, and livetail's browser client served from the installed package (no CDN, no bundler).
const client = path.dirname(fileURLToPath(import.meta.resolve('livetail/client')));
app.use('/vendor/livetail/client', express.static(client));
app.use('/vendor/livetail/protocol', express.static(path.join(client, '..', 'protocol')));
app.use(express.static(path.join(here, 'public')));

server.listen(port, () => console.log(`example app listening on ${baseURL}`));

// Shutdown: livetail first (its sockets close with 1001, pending writes are flushed), then the server,
// then the database livetail shared.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await lt.close();
    server.closeAllConnections();
    server.close(() => {
      db.close();
      process.exit(0);
    });
  });
}
