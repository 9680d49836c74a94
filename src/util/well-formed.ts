import { HTTP_ERRORS, ValidationError } from '../errors.js';

/**
 * Where the first string that is not well-formed UTF-16 (a lone surrogate, as `"\ud800"` in JSON
 * decodes to) sits in a parsed JSON value: the path of keys and indexes to it, or undefined if every key
 * and string is well-formed. Such a string cannot be stored faithfully: UTF-8 (SQLite, PostgreSQL, the
 * socket) turns the surrogate into U+FFFD, so what is stored and what a reply echoes would differ, and
 * a user id would no longer match its own stream head.
 */
export function illFormedStringPath(value: unknown): PropertyKey[] | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : [];
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const inner = illFormedStringPath(value[i]);
      if (inner) return [i, ...inner];
    }
    return undefined;
  }
  for (const [key, child] of Object.entries(value)) {
    if (!key.isWellFormed()) return [key.toWellFormed()];
    const inner = illFormedStringPath(child);
    if (inner) return [key, ...inner];
  }
  return undefined;
}

/**
 * Throws ValidationError INVALID_BODY naming the path (after `prefix`) of the first string in `value` that
 * is not well-formed UTF-16: the check of every place a string enters (bodies, the in-process API).
 */
export function refuseIllFormedStrings(value: unknown, prefix: PropertyKey[] = []): void {
  const path = illFormedStringPath(value);
  if (path) throw new ValidationError('INVALID_BODY', undefined, [{ path: [...prefix, ...path], message: HTTP_ERRORS.INVALID_BODY.texts.loneSurrogate }]);
}
