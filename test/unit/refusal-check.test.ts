import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, readAnswer, refusalState } from '../../src/client/refusal-check.js';

describe('the refused-upgrade check', () => {
  const catalog = (code: string, error = 'why') => JSON.stringify({ error, code });

  it('reads 200 {"ok":true} as "an upgrade would be accepted now"', () => {
    expect(readAnswer(200, null, '{"ok":true}')).toEqual({ kind: 'accepted' });
  });

  it("reads an error status with the catalog's body as a refusal with code, message, status and Retry-After", () => {
    expect(readAnswer(403, null, catalog('ORIGIN_NOT_ALLOWED', 'Origin not allowed'))).toEqual({
      kind: 'refused',
      reason: { code: 'ORIGIN_NOT_ALLOWED', message: 'Origin not allowed', status: 403 },
    });
    expect(readAnswer(429, '7', catalog('UPGRADE_RATE_LIMITED'))).toMatchObject({ kind: 'refused', retryAfterMs: 7000 });
  });

  it('knows nothing from a 404, a body that is not JSON or not the contract, or a 200 without ok', () => {
    expect(readAnswer(404, null, catalog('NOT_FOUND'))).toEqual({ kind: 'unknown' });
    expect(readAnswer(403, null, '<h1>Forbidden</h1>')).toEqual({ kind: 'unknown' });
    expect(readAnswer(401, null, '{"message":"no"}')).toEqual({ kind: 'unknown' });
    expect(readAnswer(401, null, 'null')).toEqual({ kind: 'unknown' });
    expect(readAnswer(200, null, '{"ok":"yes"}')).toEqual({ kind: 'unknown' });
    expect(readAnswer(302, null, catalog('X'))).toEqual({ kind: 'unknown' });
  });

  it('maps 401 to unauthenticated, 403 to forbidden, 429 to rate-limited and the rest to reconnecting', () => {
    expect([401, 403, 429, 503, 500, 400].map(refusalState)).toEqual(['unauthenticated', 'forbidden', 'rate-limited', 'reconnecting', 'reconnecting', 'reconnecting']);
  });

  it('parses Retry-After as seconds or an HTTP date, never negative, at most MAX_RETRY_AFTER_MS', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:12 GMT', now)).toBe(12_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('86400', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
