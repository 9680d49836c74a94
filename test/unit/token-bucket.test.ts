import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/gateway/token-bucket.js';

describe('TokenBucket', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('gives out `burst` tokens at once, then none until time passes', () => {
    const c = clock();
    const bucket = new TokenBucket(20, 50, c.now);
    let taken = 0;
    for (let i = 0; i < 200; i++) if (bucket.take()) taken++;
    expect(taken).toBe(50);
    expect(bucket.take()).toBe(false);
  });

  it('refills at perSecond, never above burst', () => {
    const c = clock();
    const bucket = new TokenBucket(20, 50, c.now);
    while (bucket.take());
    c.advance(100); // 2 tokens
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    c.advance(60_000);
    let taken = 0;
    while (bucket.take()) taken++;
    expect(taken).toBe(50);
  });

  it('reports full only once it has refilled completely', () => {
    const c = clock();
    const bucket = new TokenBucket(20, 50, c.now);
    expect(bucket.isFull()).toBe(true);
    bucket.take();
    expect(bucket.isFull()).toBe(false);
    c.advance(49);
    expect(bucket.isFull()).toBe(false);
    c.advance(1);
    expect(bucket.isFull()).toBe(true);
  });
});
