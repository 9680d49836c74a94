import { randomFillSync } from 'node:crypto';

/**
 * Creates UUIDv7 generators (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter
 * (method 1 of §6.2) that keeps ids from one generator strictly increasing within a millisecond
 * and across a clock that steps back. Ordering between processes is not promised: the store's
 * per-user sequence number is what orders a user's stream.
 */
export function createUuidV7(now: () => number = Date.now): () => string {
  let lastMs = -1;
  let counter = 0;
  const random = Buffer.alloc(16);
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
      randomFillSync(random, 0, 2);
      counter = random.readUInt16BE(0) & 0x3ff; // start low in the range, leaving room to count up
    }
    randomFillSync(random, 8, 8);
    const bytes = Buffer.alloc(16);
    bytes.writeUIntBE(ms, 0, 6);
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    random.copy(bytes, 8, 8, 16);
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}
