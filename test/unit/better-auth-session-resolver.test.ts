import { describe, expect, it } from 'vitest';
import { BetterAuthSessionResolver, sessionCookie } from '../../src/auth/better-auth-session-resolver.js';
import type { Auth } from '../../src/auth/create-auth.js';

/**
 * A stand-in for better-auth's getSession with a gate: each call waits until the test releases it, so a
 * sign-out can be made to land in the middle of a session check. (The integration tests use the real thing.)
 */
function fakeAuth() {
  const calls: Array<() => void> = [];
  let valid = true;
  const auth = {
    options: { baseURL: 'http://livetail.test' },
    api: {
      getSession: () =>
        new Promise((resolve) => {
          calls.push(() => resolve(valid ? { session: { id: 's1', userId: 'u1', expiresAt: new Date(Date.now() + 3_600_000) } } : null));
        }),
    },
  };
  const release = () => calls.shift()!();
  return {
    auth: auth as unknown as Auth,
    calls,
    revoke: () => (valid = false),
    release,
    /** Lets `check` reach better-auth (exactly one call waiting), releases that call, and returns the check's answer. */
    async answer<T>(check: Promise<T>): Promise<T> {
      await tick();
      expect(calls).toHaveLength(1);
      release();
      return check;
    },
  };
}

const headers = { cookie: 'better-auth.session_token=tok.sig' };
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('BetterAuthSessionResolver', () => {
  it('answers from its cache within the TTL, and asks again after forget()', async () => {
    const fake = fakeAuth();
    const resolver = new BetterAuthSessionResolver(fake.auth, { cacheTtlMs: 5000 });
    const first = resolver.resolve(headers);
    fake.release();
    expect(await first).toMatchObject({ sessionId: 's1', userId: 'u1' });
    expect(await resolver.resolve(headers)).toMatchObject({ sessionId: 's1' });
    expect(fake.calls).toHaveLength(0);

    fake.revoke();
    resolver.forget('s1');
    expect(await fake.answer(resolver.resolve(headers))).toBeUndefined();
  });

  it('does not hand out (or cache) a session that ended while its check was in flight', async () => {
    const fake = fakeAuth();
    const resolver = new BetterAuthSessionResolver(fake.auth, { cacheTtlMs: 5000 });
    const inFlight = resolver.resolve(headers);
    await tick();
    // The check has read the row; then sign-out deletes it and the hook calls forget() before the answer lands.
    resolver.forget('s1');
    fake.release();
    expect(await inFlight).toBeUndefined();
    // Nothing was cached: the next check asks better-auth again.
    expect(await fake.answer(resolver.resolve(headers))).toBeUndefined();
  });

  it('uses a cached answer only where trustCached allows it (a node that would have heard of its end)', async () => {
    const fake = fakeAuth();
    let now = 1000;
    const resolver = new BetterAuthSessionResolver(fake.auth, { cacheTtlMs: 5000, now: () => now });
    const first = resolver.resolve(headers);
    fake.release();
    await first;
    now = 2000;
    const seen: Array<[string, number]> = [];
    const untrusted = resolver.resolve(headers, { trustCached: (userId, checkedAt) => (seen.push([userId, checkedAt]), false) });
    expect(await fake.answer(untrusted)).toMatchObject({ sessionId: 's1' }); // asked again
    expect(seen).toEqual([['u1', 1000]]);
    expect(await resolver.resolve(headers, { trustCached: () => true })).toMatchObject({ sessionId: 's1' });
    expect(fake.calls).toHaveLength(0);
  });

  it('reads the session cookie under its plain or __Secure- name, ignoring other cookies', () => {
    expect(sessionCookie('a=1; better-auth.session_token=x.y; b=2')).toBe('x.y');
    expect(sessionCookie('__Secure-better-auth.session_token=s.t; better-auth.session_token=x.y')).toBe('s.t');
    expect(sessionCookie('better-auth.session_token=; other=1')).toBeUndefined();
    expect(sessionCookie(undefined)).toBeUndefined();
  });
});
