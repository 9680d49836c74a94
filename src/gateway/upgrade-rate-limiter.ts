/**
 * Counts upgrade attempts per client address in fixed windows. Checked before the session, because
 * a session check costs a database read and an attacker should not be able to make us pay it at will.
 */
export class UpgradeRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private lastSweep = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records an attempt; false when the address is over its limit for the current window. */
  allow(address: string): boolean {
    const now = this.now();
    if (now - this.lastSweep > this.windowMs) this.sweep(now);
    let window = this.windows.get(address);
    if (!window || now - window.start >= this.windowMs) {
      window = { start: now, count: 0 };
      this.windows.set(address, window);
    }
    window.count++;
    return window.count <= this.limit;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [address, window] of this.windows) if (now - window.start >= this.windowMs) this.windows.delete(address);
  }
}
