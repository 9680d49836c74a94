import express, { type RequestHandler } from 'express';
import { HttpError } from '../errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export const FORBIDDEN_KEY_MESSAGE = 'Request body contains the forbidden key';

/**
 * Parses a JSON body of at most `limit` bytes (more → 413 before the rest is read). Anything but
 * application/json → 415. Keys that could reach an object's prototype (`__proto__`, `constructor`,
 * `prototype`) are refused with 400 while parsing, so no later spread or merge can ever see one.
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
    reviver(key, value) {
      // body-parser rewraps what a reviver throws as entity.parse.failed; the error handler recognises the text.
      if (FORBIDDEN_KEYS.has(key)) throw new Error(`${FORBIDDEN_KEY_MESSAGE} "${key}"`);
      return value;
    },
  });
  return [requireJson, parse];
}
