import { describe, expect, it } from 'vitest';
import { IdleUsers } from '../../src/gateway/idle-users.js';

/** IdleUsers decides which users whose last socket closed are dropped, and when (src/gateway/idle-users.ts). */
describe('IdleUsers', () => {
  it('keeps a user for the linger, then gives it up at the first sweep after', () => {
    const idle = new IdleUsers(1000, 10, 1000);
    expect(idle.add('a', 10, 0)).toEqual([]);
    expect(idle.add('b', 10, 500)).toEqual([]);
    expect(idle.sweep(999, () => 10)).toEqual([]);
    expect(idle.sweep(1000, () => 10)).toEqual(['a']);
    expect(idle.has('a')).toBe(false);
    expect(idle.sweep(1500, () => 10)).toEqual(['b']);
    expect(idle.size).toBe(0);
  });

  it('forgets a user that has a socket again, and starts its linger over when it goes idle again', () => {
    const idle = new IdleUsers(1000, 10, 1000);
    idle.add('a', 10, 0);
    idle.remove('a');
    expect(idle.sweep(2000, () => 10)).toEqual([]);
    idle.add('a', 10, 0);
    idle.add('a', 10, 900); // idle again: from now, and last in line
    idle.add('b', 10, 100);
    expect(idle.sweep(1100, () => 10)).toEqual(['b']);
    expect(idle.sweep(1900, () => 10)).toEqual(['a']);
  });

  it('drops the longest idle past the count', () => {
    const idle = new IdleUsers(60_000, 2, 1_000_000);
    expect(idle.add('a', 0, 0)).toEqual([]);
    expect(idle.add('b', 0, 1)).toEqual([]);
    expect(idle.add('c', 0, 2)).toEqual(['a']);
    expect(idle.add('a', 0, 3)).toEqual(['b']);
    expect(idle.size).toBe(2);
  });

  it('drops the longest idle past the bytes, as they were when each went idle and again at every sweep', () => {
    const idle = new IdleUsers(60_000, 100, 100);
    expect(idle.add('a', 40, 0)).toEqual([]);
    expect(idle.add('b', 40, 1)).toEqual([]);
    expect(idle.add('c', 40, 2)).toEqual(['a']); // 120 > 100
    // Logs arrived for b while it was idle: measured again, it no longer fits with c.
    const now = new Map([['b', 70], ['c', 40]]);
    expect(idle.sweep(3, (id) => now.get(id)!)).toEqual(['b']);
    // A user larger than the whole budget is not kept at all.
    expect(idle.add('d', 500, 4)).toEqual(['c', 'd']);
    expect(idle.size).toBe(0);
  });

  it('gives up at the next sweep a user whose kept logs can no longer answer', () => {
    const idle = new IdleUsers(60_000, 10, 1000);
    idle.add('a', 10, 0);
    idle.add('b', 10, 0);
    expect(idle.sweep(1, (id) => (id === 'a' ? undefined : 10))).toEqual(['a']);
    expect(idle.has('b')).toBe(true);
  });

  it('keeps nobody with a linger of 0 or a count of 0', () => {
    expect(new IdleUsers(0, 10, 100).enabled).toBe(false);
    expect(new IdleUsers(1000, 0, 100).enabled).toBe(false);
    expect(new IdleUsers(1000, 10, 100).enabled).toBe(true);
  });
});
