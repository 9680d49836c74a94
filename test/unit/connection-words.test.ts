import { describe, expect, it } from 'vitest';
import { clockTime } from '../../src/util/local-time.js';
import { describeConnection } from '../../web/src/connection-indicator.js';

describe("the console's connection indicator words", () => {
  const now = Date.parse('2026-03-01T10:00:00Z');
  const origin = 'http://localhost:3002';

  it('says nothing to do while connected, connecting or counting down to a reconnect', () => {
    expect(describeConnection({ state: 'open' }, now, origin)).toEqual({ label: 'connected' });
    expect(describeConnection({ state: 'connecting', attempt: 0 }, now, origin)).toEqual({ label: 'connecting…' });
    expect(describeConnection({ state: 'reconnecting', attempt: 2, retryAt: now + 2100, code: 1006 }, now, origin)).toEqual({
      label: 'reconnecting in 3 s (attempt 2)',
    });
  });

  it('signed out: the session ended, sign in again', () => {
    const reason = { code: 'SESSION_INVALID', message: 'No valid session: sign in again', status: 401 };
    const words = describeConnection({ state: 'unauthenticated', code: 1006, reason }, now, origin);
    expect(words).toMatchObject({ label: 'signed out', action: 'sign-in-again', detail: 'No valid session: sign in again (HTTP 401, SESSION_INVALID)' });
    expect(words.advice).toMatch(/^Your session ended: sign in again/);
    // After 4401 there is no check, hence no detail: the words are the same.
    expect(describeConnection({ state: 'unauthenticated', code: 4401 }, now, origin)).toMatchObject({ label: 'signed out', advice: words.advice });
  });

  it("forbidden: names the page's origin and TRUSTED_ORIGINS, and offers a retry", () => {
    const reason = { code: 'ORIGIN_NOT_ALLOWED', message: 'Origin not allowed: add it to TRUSTED_ORIGINS', status: 403 };
    expect(describeConnection({ state: 'forbidden', code: 1006, reason }, now, origin)).toMatchObject({
      label: 'origin not allowed',
      advice: "This page's origin (http://localhost:3002) is not allowed by the server: add it to TRUSTED_ORIGINS, then retry.",
      action: 'retry',
    });
  });

  it('rate-limited: says when the next attempt is, as a wall-clock time', () => {
    const retryAt = now + 15_000;
    const reason = { code: 'UPGRADE_RATE_LIMITED', message: 'Too many connection attempts from this address: retry later', status: 429 };
    const words = describeConnection({ state: 'rate-limited', attempt: 1, retryAt, code: 1006, reason }, now, origin);
    expect(words).toMatchObject({ label: 'rate limited', advice: `Too many connection attempts: retrying at ${clockTime(retryAt)}.` });
    expect(words.action).toBeUndefined();
    expect(clockTime(retryAt)).toMatch(/^\d\d:\d\d:\d\d$/);
  });

  it("keeps the server's reason for a refusal that is only retried (503) as a tooltip", () => {
    const reason = { code: 'SHUTTING_DOWN', message: 'Server is shutting down: retry on another node', status: 503 };
    expect(describeConnection({ state: 'reconnecting', attempt: 1, retryAt: now + 500, code: 1006, reason }, now, origin)).toEqual({
      label: 'reconnecting in 1 s',
      detail: 'Server is shutting down: retry on another node (HTTP 503, SHUTTING_DOWN)',
    });
  });
});
