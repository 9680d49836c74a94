import { afterEach, describe, expect, it } from 'vitest';
import { SessionCheckUnavailable, type SessionResolver } from '../../src/sessions/session-resolver.js';

/** What a resolver's test gives the contract: the resolver and the app whose sessions it resolves. */
export interface ResolverFixture {
  resolver: SessionResolver;
  /** A new user signed up through the app's own auth: the Cookie header value and the user's id. */
  signUp(): Promise<{ cookie: string; userId: string }>;
  /** Signs that session out through the app. */
  signOut(cookie: string): Promise<void>;
  /** The session's expiry as the app stores it (ms since epoch). */
  storedExpiry(sessionId: string): Promise<number>;
  /** Makes the source unable to answer (its database or the app goes away). */
  breakSource(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The SessionResolver contract (src/sessions/session-resolver.ts), run against every implementation with
 * a real app behind it: better-auth in-process, and the app's get-session endpoint over HTTP.
 */
export function sessionResolverContract(name: string, setup: () => Promise<ResolverFixture>): void {
  describe(`SessionResolver contract: ${name}`, () => {
    const fixtures: ResolverFixture[] = [];
    afterEach(async () => {
      for (const fixture of fixtures.splice(0)) await fixture.close();
    });
    const start = async () => {
      const fixture = await setup();
      fixtures.push(fixture);
      return fixture;
    };

    it('answers null for a request without credentials, and for a cookie the app does not know', async () => {
      const { resolver } = await start();
      expect(await resolver.resolve({})).toBeNull();
      expect(await resolver.resolve({ cookie: 'myapp.session_token=forged.value' })).toBeNull();
      expect(await resolver.resolve({ cookie: 'unrelated=1' })).toBeNull();
    });

    it('resolves a session the app made, with its user and expiry', async () => {
      const { resolver, signUp, storedExpiry } = await start();
      const user = await signUp();
      const session = await resolver.resolve({ cookie: `theme=dark; ${user.cookie}; other=x` });
      expect(session).toMatchObject({ userId: user.userId });
      expect(typeof session!.sessionId).toBe('string');
      expect(session!.expiresAt).toBe(await storedExpiry(session!.sessionId));
      expect(session!.expiresAt).toBeGreaterThan(Date.now());
    });

    it('answers null once the app signed the session out', async () => {
      const { resolver, signUp, signOut } = await start();
      const user = await signUp();
      expect(await resolver.resolve({ cookie: user.cookie })).not.toBeNull();
      await signOut(user.cookie);
      expect(await resolver.resolve({ cookie: user.cookie })).toBeNull();
    });

    it('never extends the session: its stored expiry is unchanged after 20 checks', async () => {
      const { resolver, signUp, storedExpiry } = await start();
      const user = await signUp();
      const first = await resolver.resolve({ cookie: user.cookie });
      const before = await storedExpiry(first!.sessionId);
      await new Promise((resolve) => setTimeout(resolve, 20)); // a refresh would now move the expiry
      for (let i = 0; i < 20; i++) expect(await resolver.resolve({ cookie: user.cookie })).toMatchObject({ sessionId: first!.sessionId });
      expect(await storedExpiry(first!.sessionId)).toBe(before);
    });

    it('throws SessionCheckUnavailable (not null) when the source cannot answer', async () => {
      const { resolver, signUp, breakSource } = await start();
      const user = await signUp();
      await breakSource();
      await expect(resolver.resolve({ cookie: user.cookie })).rejects.toBeInstanceOf(SessionCheckUnavailable);
    });

    it('rechecks by id (where it can): valid ids only, none after sign-out', async () => {
      const { resolver, signUp, signOut } = await start();
      if (!resolver.stillValid) return;
      const [a, b] = [await signUp(), await signUp()];
      const [sa, sb] = [await resolver.resolve({ cookie: a.cookie }), await resolver.resolve({ cookie: b.cookie })];
      await signOut(a.cookie);
      expect(await resolver.stillValid([sa!.sessionId, sb!.sessionId, 'no-such-session'])).toEqual(new Set([sb!.sessionId]));
    });
  });
}
