import { randomFillSync } from 'node:crypto';

/** Random bytes are drawn from the system in blocks of this size: one call per 512 ids, not one per id. */
const POOL_BYTES = 8 * 512;

/**
 * Creates UUIDv7 generators (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter
 * (method 1 of §6.2) that keeps ids from one generator strictly increasing within a millisecond
 * and across a clock that steps back, then 62 random bits. Ordering between processes is not
 * promised: the store's per-user sequence number is what orders a user's stream.
 */
export function createUuidV7(now: () => number = Date.now): () => string {
  let lastMs = -1;
  let counter = 0;
  const pool = Buffer.alloc(POOL_BYTES);
  let offset = POOL_BYTES;
  const random8 = (): number => {
    if (offset === POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const at = offset;
    offset += 8;
    return at;
  };
  const bytes = Buffer.alloc(16);
  return () => {
    let ms = now();
    if (ms <= lastMs) {
      counter++;
      if (counter > 0xfff) {
        lastMs++; // borrow the next millisecond rather than repeat or go backwards
        counter = 0;
      }
      ms = lastMs;
    } else {
      lastMs = ms;
      counter = pool.readUInt16BE(random8()) & 0x3ff; // start low in the range, leaving room to count up
    }
    bytes.writeUIntBE(ms, 0, 6);
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    pool.copy(bytes, 8, random8());
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}
