/** One published entry, serialized once at publish time so batching never stringifies again. */
export interface QueuedEntry {
  /** The entry as JSON. */
  json: string;
  /** UTF-8 bytes of `json`. */
  bytes: number;
  /** When it was published (the publisher's clock), for the linger deadline. */
  at: number;
  /** Its publish order, 1, 2, 3…: what flush() waits for. */
  seq: number;
}

/**
 * The publisher's bounded FIFO of entries waiting to be sent, bounded by entries and by bytes.
 * Pushing past either bound drops from the head (the oldest), never the new entry and never blocks:
 * a producer's IMAP work matters more than its oldest log lines. Holds no batch in flight.
 */
export class EntryQueue {
  private items: QueuedEntry[] = [];
  /** Index of the first live item: shifting an array per entry is O(n), a moving head is O(1). */
  private head = 0;
  private totalBytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** The oldest entry waiting, if any. */
  peek(): QueuedEntry | undefined {
    return this.items[this.head];
  }

  /** Appends an entry; returns the oldest entries dropped to stay within the bounds (in order). */
  push(entry: QueuedEntry): QueuedEntry[] {
    this.items.push(entry);
    this.totalBytes += entry.bytes;
    const dropped: QueuedEntry[] = [];
    while (this.length > this.maxEntries || (this.totalBytes > this.maxBytes && this.length > 1)) {
      dropped.push(this.shift());
    }
    return dropped;
  }

  /** Takes the oldest entries for one batch: at most `maxEntries`, and at most `maxBytes` unless one entry alone is larger. */
  take(maxEntries: number, maxBytes: number): QueuedEntry[] {
    const batch: QueuedEntry[] = [];
    let bytes = 0;
    while (this.length > 0 && batch.length < maxEntries) {
      const next = this.items[this.head]!;
      if (batch.length > 0 && bytes + next.bytes > maxBytes) break;
      batch.push(this.shift());
      bytes += next.bytes;
    }
    return batch;
  }

  /** Removes and returns everything waiting. */
  drain(): QueuedEntry[] {
    return this.take(Infinity, Infinity);
  }

  private shift(): QueuedEntry {
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as QueuedEntry;
    this.head++;
    this.totalBytes -= item.bytes;
    // Compact once the dead prefix is half the array, so memory follows the live length.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
