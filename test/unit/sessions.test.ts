import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEnd } from '../../src/sessions/session-end.js';
import { SessionCheckUnavailable } from '../../src/sessions/session-resolver.js';
import { type SessionSocket, Sessions, type SessionsOptions } from '../../src/sessions/sessions.js';
import { FakeSessionResolver } from '../helpers/fake-session-resolver.js';

const logger = pino({ level: 'silent' });
const tick = () => new Promise((resolve) => setImmediate(resolve));

class FakeSocket implements SessionSocket {
  closed = false;
  closedWith: string | undefined;
  close(reason: 'SESSION_ENDED'): void {
    this.closed = true;
    this.closedWith = reason;
  }
}

describe('Sessions', () => {
  const made: Sessions[] = [];
  afterEach(() => {
    for (const s of made.splice(0)) s.close();
  });

  function setup(options: Partial<SessionsOptions> & { batchRecheck?: boolean } = {}) {
    let now = 1_000_000;
    const resolver = new FakeSessionResolver({ batchRecheck: options.batchRecheck, now: () => now });
    const broadcasts: SessionEnd[] = [];
    const ended: Array<'signal' | 'sweep'> = [];
    /** What the bus barrier does: by default it has heard everything at once. */
    const bus = { barrier: async (): Promise<void> => {} };
    const sessions = new Sessions(
      { resolver, broadcast: async (end) => void broadcasts.push(end), barrier: () => bus.barrier(), logger, onSocketEnded: (via) => ended.push(via) },
      { cacheTtlMs: 5000, recheckIntervalMs: 0, now: () => now, ...options },
    );
    made.push(sessions);
    return { resolver, sessions, broadcasts, ended, bus, advance: (ms: number) => (now += ms), nowIs: () => now };
  }

  const alice = { cookie: 'sid=alice-1' };

  it('asks the resolver once within the TTL, and again after it', async () => {
    const { resolver, sessions, advance, nowIs } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1', expiresAt: nowIs() + 3_600_000 });
    expect(await sessions.resolve(alice)).toMatchObject({ userId: 'alice', sessionId: 's1' });
    expect(await sessions.resolve(alice)).toMatchObject({ sessionId: 's1' });
    expect(resolver.checks).toBe(1);
    advance(5001);
    await sessions.resolve(alice);
    expect(resolver.checks).toBe(2);
  });

  it('shares one check between concurrent requests with the same credentials', async () => {
    const { resolver, sessions } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    resolver.hold();
    const answers = Promise.all(Array.from({ length: 50 }, () => sessions.resolve(alice)));
    await tick();
    expect(resolver.checks).toBe(1);
    resolver.release();
    expect(new Set((await answers).map((s) => s?.sessionId))).toEqual(new Set(['s1']));
  });

  it('never caches past the session expiry', async () => {
    const { resolver, sessions, advance, nowIs } = setup({ cacheTtlMs: 60_000 });
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1', expiresAt: nowIs() + 1000 });
    await sessions.resolve(alice);
    advance(1001);
    resolver.remove(alice.cookie);
    expect(await sessions.resolve(alice)).toBeNull();
    expect(resolver.checks).toBe(2);
  });

  it('answers null without asking when there are no credentials', async () => {
    const { resolver, sessions } = setup();
    expect(await sessions.resolve({})).toBeNull();
    expect(resolver.checks).toBe(0);
  });

  it('lets SessionCheckUnavailable through and caches nothing from it', async () => {
    const { resolver, sessions } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    resolver.down = true;
    await expect(sessions.resolve(alice)).rejects.toBeInstanceOf(SessionCheckUnavailable);
    resolver.down = false;
    expect(await sessions.resolve(alice)).toMatchObject({ sessionId: 's1' });
    expect(resolver.checks).toBe(2);
  });

  it('end(): drops the cached answer, closes the session’s sockets at once, broadcasts, and spares the user’s other session', async () => {
    const { resolver, sessions, broadcasts, ended } = setup();
    const s1 = resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    const s2 = resolver.add('sid=alice-2', { userId: 'alice', sessionId: 's2' });
    const [a, b, c] = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    sessions.track(a, s1, alice);
    sessions.track(b, s1, alice);
    sessions.track(c, s2, { cookie: 'sid=alice-2' });
    await sessions.resolve(alice);

    expect(await sessions.end({ sessionId: 's1', userId: 'alice' })).toBe(2);
    expect([a.closedWith, b.closedWith, c.closed]).toEqual(['SESSION_ENDED', 'SESSION_ENDED', false]);
    expect(broadcasts).toEqual([{ sessionId: 's1', userId: 'alice' }]);
    expect(ended).toEqual(['signal', 'signal']);
    resolver.remove(alice.cookie);
    expect(await sessions.resolve(alice)).toBeNull();
  });

  it('an end heard while a check is in flight makes its answer count as no session (and keeps it out of the cache)', async () => {
    const { resolver, sessions } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    resolver.hold();
    const inFlight = sessions.resolve(alice);
    await tick();
    // The check has read the session; the end lands before its answer does.
    sessions.onEnded({ sessionId: 's1' });
    resolver.release();
    expect(await inFlight).toBeNull();
    expect(resolver.checks).toBe(1);
  });

  it('ending a user closes every session of the user but the spared one, and refuses checks begun before the end', async () => {
    const { resolver, sessions, advance } = setup();
    const s1 = resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    const s2 = resolver.add('sid=alice-2', { userId: 'alice', sessionId: 's2' });
    resolver.add('sid=bob', { userId: 'bob', sessionId: 'b1' });
    const [a, b, bob] = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    sessions.track(a, s1, alice);
    sessions.track(b, s2, {});
    sessions.track(bob, { userId: 'bob', sessionId: 'b1', expiresAt: Infinity }, {});

    resolver.hold();
    const inFlight = sessions.resolve({ cookie: 'sid=alice-2' });
    await tick();
    advance(1);
    sessions.onEnded({ userId: 'alice', exceptSessionId: 's1' });
    resolver.release();
    expect(await inFlight).toBeNull();
    expect([a.closed, b.closed, bob.closed]).toEqual([false, true, false]);
    // A check that begins after the end is answered by the source again (a new sign-in is not refused).
    advance(1);
    expect(await sessions.resolve({ cookie: 'sid=alice-2' })).toMatchObject({ sessionId: 's2' });
  });

  it('an untracked socket is not closed by a later end, and the last socket of a session drops its entry', async () => {
    const { sessions, ended } = setup();
    const socket = new FakeSocket();
    sessions.track(socket, { userId: 'alice', sessionId: 's1', expiresAt: Infinity }, {});
    sessions.untrack(socket, 's1');
    expect(await sessions.end({ sessionId: 's1' })).toBe(0);
    expect(socket.closed).toBe(false);
    expect(ended).toEqual([]);
  });

  it('a cached answer waits for the bus barrier: an end another node confirmed just before is heard first', async () => {
    const { resolver, sessions, bus } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    await sessions.resolve(alice); // cached
    // Another node signed s1 out and the app answered; its end is still on its way through the bus.
    bus.barrier = async () => sessions.onEnded({ sessionId: 's1' });
    expect(await sessions.resolve(alice)).toBeNull();
    expect(resolver.checks).toBe(1);
  });

  it('a fresh check waits for the barrier too: a session that ended while it read is not handed out', async () => {
    const { resolver, sessions, bus } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    bus.barrier = async () => sessions.onEnded({ userId: 'alice' });
    expect(await sessions.resolve(alice)).toBeNull();
  });

  it('when the bus cannot tell (barrier rejects), a cached answer is not trusted: the source is asked again, and nothing is cached', async () => {
    const { resolver, sessions, bus } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    await sessions.resolve(alice);
    bus.barrier = async () => {
      throw new Error('redis is away');
    };
    resolver.remove(alice.cookie); // signed out on another node, whose end this node cannot hear
    expect(await sessions.resolve(alice)).toBeNull();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    expect(await sessions.resolve(alice)).toMatchObject({ sessionId: 's1' });
    expect(await sessions.resolve(alice)).toMatchObject({ sessionId: 's1' });
    expect(resolver.checks).toBe(4);
  });

  it('onResync() drops every cached answer: an end may have been lost with the bus', async () => {
    const { resolver, sessions } = setup();
    resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    await sessions.resolve(alice);
    sessions.onResync();
    resolver.remove(alice.cookie);
    expect(await sessions.resolve(alice)).toBeNull();
  });

  for (const batchRecheck of [true, false]) {
    it(`the sweep closes sockets of sessions that ended unreported (${batchRecheck ? 'batch stillValid' : 'resolving each again'})`, async () => {
      const { resolver, sessions, ended } = setup({ batchRecheck });
      const s1 = resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
      const s2 = resolver.add('sid=alice-2', { userId: 'alice', sessionId: 's2' });
      const [a, b] = [new FakeSocket(), new FakeSocket()];
      sessions.track(a, s1, alice);
      sessions.track(b, s2, { cookie: 'sid=alice-2' });
      resolver.remove(alice.cookie); // deleted behind the app's back: no end reported
      await sessions.sweep();
      expect([a.closedWith, b.closed]).toEqual(['SESSION_ENDED', false]);
      expect(ended).toEqual(['sweep']);
    });
  }

  it('a sweep that cannot reach the source closes nothing', async () => {
    const { resolver, sessions } = setup();
    const s1 = resolver.add(alice.cookie, { userId: 'alice', sessionId: 's1' });
    const socket = new FakeSocket();
    sessions.track(socket, s1, alice);
    resolver.down = true;
    await sessions.sweep();
    expect(socket.closed).toBe(false);
  });
});
