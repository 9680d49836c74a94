import type http from 'node:http';
import { HTTP_ERRORS, HttpError } from '../errors.js';
import type { ApiRequest, ApiResponse } from './api-request.js';
import type { Authenticate } from './authenticate.js';
import { type OnRawBody, isJsonType, parseInto } from './json-body.js';

/**
 * POST /api/logs without Express, for the servers livetail runs itself (standalone and sidecar).
 *
 * Every operation a producer reports is one such POST, and Express 5 with its body parser costs about
 * twice what node's HTTP server spends on the request itself (measured: a bare Express 5 +
 * express.json() endpoint about 170 µs of server CPU per POST of one entry, node's http with JSON.parse
 * alone about 55; bench/results/history.md section 18). The lane carries only the plain request, told
 * from its head alone before anything is read — POST of exactly the path, no query, a JSON type, a
 * declared length within MAX_BODY_BYTES, no Content-Encoding or Transfer-Encoding — and everything else
 * (a query, a compressed or chunked body, a type to refuse, an oversized one) goes to Express unchanged,
 * which stays the one place for the uncommon cases.
 *
 * It runs the very pieces Express's route runs, in the same order: the request tracked for shutdown,
 * the caller authenticated before the body is read, the body read and parsed by `parseInto` (with the
 * idempotency digest), the route's own handler, and the API router's own error answers.
 */
export interface IngestLane {
  /** Whether the lane carries this request (see above); false leaves it to Express. */
  takes(req: http.IncomingMessage): boolean;
  /** Answers a request `takes` accepted, as Express's route would. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}

export interface IngestLaneDeps {
  /** The route's full path, e.g. `/api/logs` (the API router's mount path and its own). */
  path: string;
  maxBodyBytes: number;
  authenticate: Authenticate;
  /** The API router's request tracking (what a shutdown waits for). */
  track: (res: http.ServerResponse) => void;
  onRaw: OnRawBody;
  /** The route's handler, once the caller is in `res.locals` and the body in `req.body`. */
  post: (req: ApiRequest, res: ApiResponse) => Promise<void>;
  /** The API router's error answers. */
  fail: (error: unknown, req: ApiRequest, res: ApiResponse) => void;
}

export function createIngestLane(deps: IngestLaneDeps): IngestLane {
  const { path, maxBodyBytes } = deps;

  const run = async (req: ApiRequest, res: ApiResponse, length: number): Promise<void> => {
    // Credentials first: an anonymous caller gets 401 before its body is read, as on Express's route.
    res.locals.caller = await deps.authenticate(req);
    req.body = await readBody(req, length);
    const refused = parseInto(req, res, deps.onRaw);
    if (refused) throw refused;
    await deps.post(req, res);
  };

  return {
    takes(req) {
      if (req.method !== 'POST' || req.url !== path) return false;
      const { headers } = req;
      if (headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined) return false;
      const length = declaredLength(headers['content-length']);
      return length > 0 && length <= maxBodyBytes && isJsonType(headers['content-type']);
    },
    handle(req, res) {
      const apiRes = res as ApiResponse;
      apiRes.locals = Object.create(null) as Record<string, unknown>; // as Express gives every response
      deps.track(res);
      // `takes` checked the length: digits, within MAX_BODY_BYTES.
      run(req, apiRes, Number(req.headers['content-length'])).catch((error: unknown) => deps.fail(error, req, apiRes));
    },
  };
}

/** A Content-Length of digits only (node has refused a malformed one already), else -1. */
function declaredLength(header: string | undefined): number {
  return header !== undefined && /^\d{1,10}$/.test(header) ? Number(header) : -1;
}

/**
 * The body of a request that declared `length` bytes. node's parser never hands over more than that;
 * a request whose client goes away first is refused as body-parser refuses it (400 "request aborted").
 * The chunks are kept as they come rather than in a buffer of the declared size: a client may declare a
 * megabyte and send nothing.
 */
function readBody(req: http.IncomingMessage, length: number): Promise<Buffer> {
  if (req.destroyed) return Promise.reject(aborted());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = () => {
      done();
      if (received !== length) return reject(new HttpError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.sizeMismatch));
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onGone = () => {
      done();
      reject(aborted());
    };
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

function aborted(): HttpError {
  return new HttpError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.aborted);
}
