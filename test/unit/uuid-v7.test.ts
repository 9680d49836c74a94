import { describe, expect, it } from 'vitest';
import { createUuidV7 } from '../../src/logs/uuid-v7.js';

describe('createUuidV7', () => {
  it('makes RFC 9562 version 7 ids carrying the time', () => {
    const id = createUuidV7(() => 0x0123456789ab)();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(id.replace(/-/g, '').slice(0, 12)).toBe('0123456789ab');
  });
  it('stays strictly increasing within one millisecond and when the clock steps back', () => {
    let now = 1_700_000_000_000;
    const next = createUuidV7(() => now);
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i === 5000) now -= 10;
      ids.push(next());
    }
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
  });
});

describe('createUuidV7 randomness', () => {
  it('gives distinct random tails across more ids than one block of pooled random bytes', () => {
    const next = createUuidV7(() => 1_700_000_000_000);
    const tails = new Set<string>();
    for (let i = 0; i < 2000; i++) tails.add(next().slice(19));
    expect(tails.size).toBe(2000);
  });
});
