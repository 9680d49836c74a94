import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from '../../src/http/json-body.js';

describe('nestsDeeperThan', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  it('counts arrays and objects', () => {
    expect(nestsDeeperThan(Buffer.from(deep(3)), 3)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(deep(4)), 3)).toBe(true);
    expect(nestsDeeperThan(Buffer.from('{"a":{"b":{"c":{}}}}'), 3)).toBe(true);
    expect(nestsDeeperThan(Buffer.from('[[1],[2],[3]]'), 2)).toBe(false);
  });
  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(Buffer.from(JSON.stringify({ a: '[[[[{{{{' })), 1)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(JSON.stringify({ a: 'say \\"[[[[\\" ok', b: ['"]]]]"'] })), 2)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(JSON.stringify(['\\', [[1]]])), 2)).toBe(true);
  });
  it('agrees with JSON.parse on the depth of generated values', () => {
    const depthOf = (v: unknown): number => (v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
    const samples: unknown[] = [{ a: [1, { b: '}}]]' }], c: { d: { e: ['x\\"y'] } } }, [[[]]], 'str"[', { 'k[{': [{ '"': {} }] }];
    for (const v of samples) {
      const raw = Buffer.from(JSON.stringify(v));
      const d = depthOf(v);
      expect(nestsDeeperThan(raw, d)).toBe(false);
      if (d > 0) expect(nestsDeeperThan(raw, d - 1)).toBe(true);
    }
  });
});
