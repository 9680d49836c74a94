import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What livetail's API handlers use of a request: node's own, plus the parsed body. Express provides
 * `body` (Request extends this); the ingest lane (ingest-lane.ts), which carries POSTs without Express,
 * sets it itself. Handlers typed on these run the same under both.
 */
export type ApiRequest = IncomingMessage & { body?: unknown };

/** A response with the request's locals (the caller, the body's digest), as Express's Response has them. */
export type ApiResponse = ServerResponse & { locals: Record<string, unknown> };
