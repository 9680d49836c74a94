import { describe, expect, it } from 'vitest';
import { UpgradeRateLimiter } from '../../src/gateway/upgrade-rate-limiter.js';

describe('UpgradeRateLimiter', () => {
  it('allows `limit` attempts per address per window, then refuses until the window ends', () => {
    let now = 0;
    const limiter = new UpgradeRateLimiter(3, 10_000, () => now);
    expect([1, 2, 3, 4].map(() => limiter.allow('10.0.0.1'))).toEqual([true, true, true, false]);
    expect(limiter.allow('10.0.0.2')).toBe(true);
    now = 9_999;
    expect(limiter.allow('10.0.0.1')).toBe(false);
    now = 10_000;
    expect(limiter.allow('10.0.0.1')).toBe(true);
  });

  it('forgets addresses whose window ended, so memory follows the active addresses only', () => {
    let now = 0;
    const limiter = new UpgradeRateLimiter(1, 1000, () => now);
    for (let i = 0; i < 1000; i++) limiter.allow(`10.0.${i >> 8}.${i & 255}`);
    now = 5000;
    limiter.allow('10.9.9.9');
    expect((limiter as unknown as { windows: Map<string, unknown> }).windows.size).toBe(1);
  });
});
