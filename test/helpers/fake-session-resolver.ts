import type { Credentials, ResolvedSession, SessionResolver } from '../../src/sessions/session-resolver.js';
import { SessionCheckUnavailable } from '../../src/sessions/session-resolver.js';

/**
 * A SessionResolver for unit tests of its users (Sessions, the gateway): sessions by cookie, set by the
 * test; every check can be held until the test releases it, so an end can land in the middle of one.
 * It passes the same contract as the real resolvers (test/contract/session-resolver.contract.ts).
 */
export class FakeSessionResolver implements SessionResolver {
  private readonly sessions = new Map<string, ResolvedSession>();
  private held: Array<() => void> | undefined;
  /** How many checks reached the resolver (cache misses of its callers). */
  checks = 0;
  /** When set, every check throws SessionCheckUnavailable. */
  down = false;
  stillValid?: (ids: string[]) => Promise<Set<string>>;

  private readonly now: () => number;

  constructor(options: { batchRecheck?: boolean; now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    if (options.batchRecheck) {
      this.stillValid = async (ids) => new Set(ids.filter((id) => [...this.sessions.values()].some((s) => s.sessionId === id && s.expiresAt > this.now())));
    }
  }

  /** A session for `cookie` (one `name=value` pair: a Cookie header carrying it among others finds it). */
  add(cookie: string, session: Partial<ResolvedSession> & { userId: string; sessionId: string }): ResolvedSession {
    const full = { expiresAt: this.now() + 3_600_000, ...session };
    this.sessions.set(cookie, full);
    return full;
  }

  remove(cookie: string): void {
    this.sessions.delete(cookie);
  }

  /** From now on checks wait until `release()`. */
  hold(): void {
    this.held ??= [];
  }

  /** Lets every held check answer (with the state at that moment), and stops holding. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }

  get waiting(): number {
    return this.held?.length ?? 0;
  }

  async resolve(headers: Credentials): Promise<ResolvedSession | null> {
    this.checks++;
    if (this.held) await new Promise<void>((resolve) => this.held!.push(resolve));
    if (this.down) throw new SessionCheckUnavailable('the fake source is down');
    const pair = headers.cookie?.split(';').map((p) => p.trim()).find((p) => this.sessions.has(p));
    const session = pair === undefined ? undefined : this.sessions.get(pair);
    return session && session.expiresAt > this.now() ? { ...session } : null;
  }
}
