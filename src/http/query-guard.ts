import type { RequestHandler } from 'express';
import { HTTP_ERRORS, HttpError } from '../errors.js';

/**
 * Middleware: every query parameter must appear once, as a plain `name=value`. A repeated one
 * (`?userId=A&userId=A`, which the parser turns into an array) or one in array or object syntax
 * (`?userId[]=A`, `?userId[x]=A`) is refused with 400 INVALID_QUERY on every route, so no route can
 * mistake an array for a missing value and fall back to the caller's own user.
 */
export function singleQueryValues(): RequestHandler {
  return (req, _res, next) => {
    // No query string, nothing to check (and no parse of one).
    if (!req.url.includes('?')) return next();
    for (const [name, value] of Object.entries(req.query)) {
      const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 63).toWellFormed()}…` : name.toWellFormed());
      if (typeof value !== 'string') return next(new HttpError('INVALID_QUERY', HTTP_ERRORS.INVALID_QUERY.texts.repeated(shown)));
      if (/[[\]]/.test(name)) return next(new HttpError('INVALID_QUERY', HTTP_ERRORS.INVALID_QUERY.texts.arraySyntax(shown)));
      // The query decoder turns bytes that are not UTF-8 into U+FFFD, so this is a guard, not a path taken today.
      if (!name.isWellFormed() || !value.isWellFormed()) return next(new HttpError('INVALID_QUERY', HTTP_ERRORS.INVALID_QUERY.texts.illFormed(shown)));
    }
    next();
  };
}
