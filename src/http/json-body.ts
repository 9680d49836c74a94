import express, { type RequestHandler } from 'express';
import { HttpError } from '../errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export const FORBIDDEN_KEY_MESSAGE = 'Request body contains the forbidden key';

/**
 * How deeply a JSON body may nest. JSON.parse with a reviver recurses, and runs out of stack a few
 * thousand levels down; a 1 MiB body can nest half a million. The bound sits well above any accepted
 * shape (a log entry's `parsed` is at most MAX_PARSED_DEPTH ≤ 1000 levels, a few more with the envelope)
 * and well below that, so a deep body gets a clear 400 before it is parsed.
 */
export const MAX_BODY_DEPTH = 1024;

/**
 * Parses a JSON body of at most `limit` bytes (more → 413 before the rest is read). Anything but
 * application/json → 415. Nesting deeper than MAX_BODY_DEPTH → 400. Keys that could reach an object's
 * prototype (`__proto__`, `constructor`, `prototype`) are refused with 400 while parsing, so no later
 * spread or merge can ever see one.
 */
export function jsonBody(limit: number): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    const type = req.headers['content-type'];
    next(type !== undefined && /^application\/([\w.+-]*\+)?json\s*(;|$)/i.test(type) ? undefined : new HttpError('UNSUPPORTED_MEDIA_TYPE'));
  };
  const parse = express.json({
    limit,
    strict: false,
    type: () => true,
    verify(_req, _res, raw) {
      // body-parser keeps the status of what verify throws (400 here) and passes the error on.
      if (nestsDeeperThan(raw, MAX_BODY_DEPTH)) {
        throw new HttpError('VALIDATION_FAILED', `Request body is nested deeper than ${MAX_BODY_DEPTH} levels`);
      }
    },
    reviver(key, value) {
      // body-parser rewraps what a reviver throws as entity.parse.failed; the error handler recognises the text.
      if (FORBIDDEN_KEYS.has(key)) throw new Error(`${FORBIDDEN_KEY_MESSAGE} "${key}"`);
      return value;
    },
  });
  return [requireJson, parse];
}

/** One pass over the raw bytes counting open brackets outside strings; stops as soon as `max` is passed. */
export function nestsDeeperThan(raw: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (inString) {
      if (byte === 0x5c /* \ */) i++;
      else if (byte === 0x22 /* " */) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b /* [ */ || byte === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (byte === 0x5d /* ] */ || byte === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}
