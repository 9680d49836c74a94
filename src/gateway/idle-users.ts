/**
 * The users whose last local socket closed, kept for a while with their bus subscription and RecentLogs,
 * so a reconnect (a page reload, a network blip, a socket cut by a proxy) is answered from memory rather
 * than a store read: their RecentLogs stays in step with the stream while the subscription lasts.
 *
 * Bounded three ways: each user for `lingerMs` after it went idle, at most `maxUsers` users, and at most
 * `maxBytes` of their kept logs (as measured when each went idle, and again at every sweep, since logs
 * still arrive for an idle user). Past a bound the users idle longest go first. This class only decides
 * who goes; the hub drops them (pool and subscription).
 */
export class IdleUsers {
  /** Idle users, longest idle first (a user that goes idle again moves to the end). */
  private readonly entries = new Map<string, { since: number; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly lingerMs: number,
    private readonly maxUsers: number,
    private readonly maxBytes: number,
  ) {}

  /** Whether idle users are kept at all (a linger of 0 drops a user with its last socket). */
  get enabled(): boolean {
    return this.lingerMs > 0 && this.maxUsers > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  has(userId: string): boolean {
    return this.entries.has(userId);
  }

  /** `userId` went idle now, keeping `bytes` of logs; returns the users to drop to stay within the bounds (maybe this one). */
  add(userId: string, bytes: number, now: number): string[] {
    this.remove(userId);
    this.entries.set(userId, { since: now, bytes });
    this.bytes += bytes;
    return this.overBounds();
  }

  /** `userId` has a socket again, or was dropped. */
  remove(userId: string): void {
    const entry = this.entries.get(userId);
    if (!entry) return;
    this.entries.delete(userId);
    this.bytes -= entry.bytes;
  }

  /**
   * The users to drop now: those idle for `lingerMs` or whose kept logs can no longer answer
   * (`bytesOf` undefined: emptied by a gap or a bus resync), then the longest idle past the bounds, with
   * each one's bytes measured again by `bytesOf` first. Every user returned is removed.
   */
  sweep(now: number, bytesOf: (userId: string) => number | undefined): string[] {
    const gone: string[] = [];
    this.bytes = 0;
    for (const [userId, entry] of this.entries) {
      const bytes = now - entry.since >= this.lingerMs ? undefined : bytesOf(userId);
      if (bytes === undefined) {
        this.entries.delete(userId);
        gone.push(userId);
        continue;
      }
      entry.bytes = bytes;
      this.bytes += bytes;
    }
    return gone.concat(this.overBounds());
  }

  private overBounds(): string[] {
    const gone: string[] = [];
    for (const [userId, entry] of this.entries) {
      if (this.entries.size <= this.maxUsers && this.bytes <= this.maxBytes) break;
      this.entries.delete(userId);
      this.bytes -= entry.bytes;
      gone.push(userId);
    }
    return gone;
  }
}
