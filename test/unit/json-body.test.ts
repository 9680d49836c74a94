import { describe, expect, it } from 'vitest';
import { scanJsonBody } from '../../src/http/json-body.js';
import { illFormedStringPath } from '../../src/util/well-formed.js';

/** True when the body nests deeper than `max` levels (brackets inside strings do not count). */
const nestsDeeperThan = (raw: Uint8Array, max: number) => 'tooDeep' in scanJsonBody(raw, max);

describe('scanJsonBody: nesting depth', () => {
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

describe('scanJsonBody: keys that could reach a prototype', () => {
  const scan = (text: string) => scanJsonBody(Buffer.from(text), 100);
  it('finds __proto__, constructor and prototype as keys at any depth, with spaces before the colon', () => {
    expect(scan('{"__proto__":{"x":1}}')).toEqual({ forbiddenKey: '__proto__' });
    expect(scan('{"a":[{"b":{"constructor" :{"prototype":1}}}]}')).toEqual({ forbiddenKey: 'constructor' });
    expect(scan('{"a":{"prototype"\n:1}}')).toEqual({ forbiddenKey: 'prototype' });
  });
  it('finds them spelled with escapes, as JSON.parse would decode them', () => {
    expect(scan('{"__pro\\u0074o__":{"x":1}}')).toEqual({ forbiddenKey: '__proto__' });
    expect(scan('{"\\u0063onstructor":1}')).toEqual({ forbiddenKey: 'constructor' });
  });
  it('lets the same words through as values and inside longer keys', () => {
    expect(scan('{"a":"__proto__","b":["constructor"],"myprototype":1,"c":"\\"prototype\\":"}')).toEqual({ ok: true });
  });
  it('agrees with a reviver on generated bodies', () => {
    const keys = ['a', '__proto__', 'constructor', 'prototype', 'proto', '__proto', 'x y'];
    for (let seed = 0; seed < 300; seed++) {
      let n = seed;
      const pick = () => keys[(n = (n * 1103515245 + 12345) % 2 ** 31) % keys.length]!;
      const text = `{"${pick()}":{"${pick()}":"${pick()}","${pick()}":[{"${pick()}":1}]}}`;
      let expected: string | undefined;
      JSON.parse(text, (key, value) => {
        if (expected === undefined && ['__proto__', 'constructor', 'prototype'].includes(key)) expected = key;
        return value;
      });
      const result = scan(text);
      expect('forbiddenKey' in result).toBe(expected !== undefined);
    }
  });
});

describe('scanJsonBody: surrogate escapes', () => {
  const scan = (text: string) => scanJsonBody(Buffer.from(text), 100);
  it('flags a body whose strings spell a surrogate as \\uD800–\\uDFFF, in keys and values, either case', () => {
    for (const text of ['{"a":"\\ud800"}', '{"\\uDFFF":1}', '["x\\uDbff"]', '{"a":"\\ud83d\\ude00"}']) expect(scan(text), text).toEqual({ ok: true, surrogateEscape: true });
  });
  it('leaves other escapes and raw characters alone', () => {
    for (const text of ['{"a":"\\u00e9\\ucfff\\ue000"}', '{"a":"\\\\ud800"}', '{"a":"😀"}', '{"a":"d800"}']) expect(scan(text), text).toEqual({ ok: true });
  });
});

describe('illFormedStringPath', () => {
  it('finds the first lone surrogate in a key or a string, with its path', () => {
    expect(illFormedStringPath({ a: [1, { b: 'ok', c: 'x\udc00' }] })).toEqual(['a', 1, 'c']);
    expect(illFormedStringPath({ a: { ['k\ud800']: 1 } })).toEqual(['a', 'k\ufffd']);
    expect(illFormedStringPath('\ud800')).toEqual([]);
    expect(illFormedStringPath({ a: '😀', b: ['\ud83d\ude00'], c: null, d: 1 })).toBeUndefined();
  });
});
