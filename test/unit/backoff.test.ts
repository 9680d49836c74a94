import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/client/backoff.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('Backoff', () => {
  it('doubles the ceiling from 500 ms up to the 30 s cap by default', () => {
    const clock = fakeClock();
    // random() → just under 1 gives the ceiling of each attempt (minus the floor's rounding).
    const backoff = new Backoff({}, () => 0.999999, clock.now);
    const delays = Array.from({ length: 10 }, () => backoff.next());
    expect(delays).toEqual([499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999, 29999]);
  });

  it('draws each delay uniformly from 0 to the ceiling (full jitter)', () => {
    const draws = [0, 0.5, 0.25, 0.999999];
    const backoff = new Backoff({ baseMs: 100, capMs: 10_000 }, () => draws.shift()!, fakeClock().now);
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([0, 100, 100, 799]);
  });

  it('spreads many clients over the whole window', () => {
    const delays = Array.from({ length: 2000 }, () => new Backoff({ baseMs: 1000 }).next());
    expect(Math.min(...delays)).toBeLessThan(100);
    expect(Math.max(...delays)).toBeGreaterThan(900);
    expect(Math.max(...delays)).toBeLessThan(1000);
  });

  it('starts over after a connection stayed open stableAfterMs', () => {
    const clock = fakeClock();
    const backoff = new Backoff({ baseMs: 100, capMs: 5000, stableAfterMs: 5000 }, () => 0.999999, clock.now);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([99, 199, 399]);
    backoff.opened();
    clock.advance(5000);
    expect(backoff.next()).toBe(99);
    expect(backoff.attempts).toBe(1);
  });

  it('keeps growing when connections open but drop before they are stable', () => {
    const clock = fakeClock();
    const backoff = new Backoff({ baseMs: 100, capMs: 5000, stableAfterMs: 5000 }, () => 0.999999, clock.now);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      backoff.opened();
      clock.advance(4999);
      delays.push(backoff.next());
    }
    expect(delays).toEqual([99, 199, 399, 799, 1599]);
    expect(backoff.attempts).toBe(5);
  });

  it('counts the connection that was open, not time spent retrying, as stable', () => {
    const clock = fakeClock();
    const backoff = new Backoff({ baseMs: 100, capMs: 5000, stableAfterMs: 1000 }, () => 0.999999, clock.now);
    backoff.next();
    clock.advance(60_000); // a long outage without any open connection
    expect(backoff.next()).toBe(199);
  });

  it('stays finite after very many attempts', () => {
    const backoff = new Backoff({ baseMs: 1, capMs: 30_000 }, () => 0.5, fakeClock().now);
    for (let i = 0; i < 5000; i++) backoff.next();
    expect(backoff.next()).toBe(15_000);
  });

  it('waits at least the floor the server asked for, plus a random part as wide as the floor', () => {
    const draws = [0, 0.999999, 0.5];
    const backoff = new Backoff({ baseMs: 100, capMs: 30_000 }, () => draws.shift()!, fakeClock().now);
    expect([backoff.nextAtLeast(10_000), backoff.nextAtLeast(10_000), backoff.nextAtLeast(0)]).toEqual([10_000, 19_999, 200]);
    expect(backoff.attempts).toBe(3);
  });

  it('uses the ceiling instead when it is wider than the floor', () => {
    const backoff = new Backoff({ baseMs: 8000, capMs: 30_000 }, () => 0.999999, fakeClock().now);
    backoff.next(); // ceiling 8 s
    expect(backoff.nextAtLeast(1000)).toBe(1000 + 15_999); // ceiling 16 s > floor 1 s
  });

  it('spreads clients given the same Retry-After over a window as wide as it, instead of one instant', () => {
    const delays = Array.from({ length: 2000 }, () => new Backoff().nextAtLeast(10_000));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(10_000);
    expect(Math.min(...delays)).toBeLessThan(10_500);
    expect(Math.max(...delays)).toBeGreaterThan(19_500);
    expect(Math.max(...delays)).toBeLessThan(20_000);
  });

  it('rejects a schedule that makes no sense', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 1000, capMs: 10 })).toThrow(/capMs >= baseMs/);
    expect(() => new Backoff({ stableAfterMs: -1 })).toThrow(RangeError);
  });

  it('takes undefined options as the defaults', () => {
    const backoff = new Backoff({ baseMs: undefined, capMs: undefined }, () => 0.999999, fakeClock().now);
    expect(backoff.next()).toBe(499);
  });
});
