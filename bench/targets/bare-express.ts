import express from 'express';
import { portFromEnv } from './ingest-endpoint.js';

/**
 * The per-request reference: Express 5 with `express.json()`, and POST /api/logs doing nothing but
 * answer 201 with the parsed body — the floor of livetail's own HTTP stack for one request. The same
 * two app settings livetail's standalone app makes (no ETag hashing of every answer, no X-Powered-By);
 * no logging, no security headers, no auth, no validation, no store. The body limit is livetail's
 * default (MAX_BODY_BYTES, 1 MiB), so both parse the same bodies.
 */
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/api/logs', express.json({ limit: '1mb' }), (req, res) => {
  res.status(201).json(req.body);
});

app.listen(portFromEnv(), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
