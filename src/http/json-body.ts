import express, { type RequestHandler } from 'express';
import { HTTP_ERRORS, HttpError } from '../errors.js';
import { refuseIllFormedStrings } from '../util/well-formed.js';
import type { ApiRequest, ApiResponse } from './api-request.js';

/** What sees a body's raw bytes before it is parsed (an idempotent route digests them). */
export type OnRawBody = (req: ApiRequest, res: ApiResponse, raw: Buffer) => void;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * How deeply a JSON body may nest. The bound sits well above any accepted shape (a log entry's `parsed`
 * is at most MAX_PARSED_DEPTH ≤ 1000 levels, a few more with the envelope) and far below what a 1 MiB
 * body can reach (half a million levels), which code that walks a value recursively could not survive.
 */
export const MAX_BODY_DEPTH = 1024;

/**
 * What one pass over a raw body found: too deep, a key that could reach a prototype, or neither — then
 * with `surrogateEscape` when some string spells a surrogate as `\uD800`–`\uDFFF` (the only way a
 * UTF-8 body can carry a lone one), so the parsed value needs a look for ill-formed strings.
 */
export type BodyScan = { tooDeep: true } | { forbiddenKey: string } | { ok: true; surrogateEscape?: true };

/**
 * One pass over the raw bytes, outside and inside strings: counts nesting (stopping as soon as
 * `maxDepth` is passed) and looks at every object key for `__proto__`, `constructor` and `prototype`
 * (escaped spellings included), so the body can then go to the native JSON.parse without a reviver,
 * which would make parsing several times slower.
 */
export function scanJsonBody(raw: Uint8Array, maxDepth: number): BodyScan {
  let depth = 0;
  let surrogateEscape = false;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === 0x22 /* " */) {
      const start = i + 1;
      let escaped = false;
      for (i = start; i < raw.length && raw[i] !== 0x22; i++) {
        if (raw[i] === 0x5c /* \ */) {
          escaped = true;
          i++;
          if (raw[i] === 0x75 /* u */ && isSurrogateEscape(raw, i + 1)) surrogateEscape = true;
        }
      }
      const length = i - start;
      // Only a string followed by ':' is a key; the forbidden ones are 9 or 11 bytes unless escaped.
      if (escaped || length === 9 || length === 11) {
        let next = i + 1;
        while (next < raw.length && (raw[next] === 0x20 || raw[next] === 0x0a || raw[next] === 0x0d || raw[next] === 0x09)) next++;
        if (raw[next] === 0x3a /* : */) {
          const key = decodeKey(raw, start - 1, i + 1);
          if (key !== undefined && FORBIDDEN_KEYS.has(key)) return { forbiddenKey: key };
        }
      }
    } else if (byte === 0x5b /* [ */ || byte === 0x7b /* { */) {
      if (++depth > maxDepth) return { tooDeep: true };
    } else if (byte === 0x5d /* ] */ || byte === 0x7d /* } */) {
      depth--;
    }
  }
  return surrogateEscape ? { ok: true, surrogateEscape } : { ok: true };
}

/** Whether the 4 hex digits at `at` (after `\u`) are D800–DFFF: `d` or `D`, then 8–9, a–f or A–F. */
function isSurrogateEscape(raw: Uint8Array, at: number): boolean {
  if ((raw[at]! | 0x20) !== 0x64 /* d */) return false;
  const next = raw[at + 1]!;
  return next === 0x38 || next === 0x39 || ((next | 0x20) >= 0x61 && (next | 0x20) <= 0x66);
}

function decodeKey(raw: Uint8Array, from: number, to: number): string | undefined {
  try {
    return JSON.parse(Buffer.from(raw.buffer, raw.byteOffset + from, to - from).toString('utf8')) as string;
  } catch {
    return undefined; // not valid JSON: JSON.parse of the whole body reports it
  }
}

/**
 * Parses a JSON body of at most `limit` bytes (more → 413 before the rest is read). Anything but
 * application/json → 415; nesting deeper than MAX_BODY_DEPTH → 400; malformed JSON → 400. Keys that
 * could reach an object's prototype (`__proto__`, `constructor`, `prototype`) are refused with 400
 * before parsing, so no later spread or merge can ever see one. A key or string that is not well-formed
 * UTF-16 (a lone surrogate) → 400 INVALID_BODY naming its path: nothing downstream (validation, the
 * store, the reply) ever sees one. `onRaw` sees the raw bytes first (an idempotent route digests them).
 */
export function jsonBody(limit: number, onRaw?: OnRawBody): RequestHandler[] {
  const read = express.raw({ limit, type: () => true });
  // One layer for the type check, the read and the parse: each of Express's layers costs a match and a
  // dispatch per request, and every POST of a producer passes here.
  const body: RequestHandler = (req, res, next) => {
    if (!isJsonType(req.headers['content-type'])) return next(new HttpError('UNSUPPORTED_MEDIA_TYPE'));
    read(req, res, (failed?: unknown) => {
      if (failed) return next(failed);
      let refused: HttpError | undefined;
      try {
        refused = parseInto(req, res, onRaw);
      } catch (error) {
        return next(error); // a lone surrogate's 400 (refuseIllFormedStrings), or onRaw's throw, as Express's layer passed it on
      }
      next(refused);
    });
  };
  return [body];
}

/** Whether a Content-Type names JSON (application/json or a +json type), as every JSON route takes it. */
export function isJsonType(type: string | undefined): boolean {
  return type !== undefined && /^application\/([\w.+-]*\+)?json\s*(;|$)/i.test(type);
}

/**
 * Scans and parses the raw body read into `req.body`, and puts the parsed value there; the refusal, if
 * any (it throws the 400 of a lone surrogate). The ingest lane reads its bodies itself and parses them here.
 */
export function parseInto(req: ApiRequest, res: ApiResponse, onRaw: OnRawBody | undefined): HttpError | undefined {
  const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  onRaw?.(req, res, raw);
  const scan = scanJsonBody(raw, MAX_BODY_DEPTH);
  if ('tooDeep' in scan) return new HttpError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.tooDeep(MAX_BODY_DEPTH));
  if ('forbiddenKey' in scan) return new HttpError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.forbiddenKey(scan.forbiddenKey));
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return new HttpError('INVALID_JSON');
  }
  // Only a body that spells a surrogate escape can hold a lone surrogate: the others skip the walk.
  if (scan.surrogateEscape) refuseIllFormedStrings(body);
  req.body = body;
  return undefined;
}
