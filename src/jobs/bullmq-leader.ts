import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Renews the lease only while this node still holds it (compare the token, then extend). */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Releases the lease only if this node still holds it. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** Writes KEYS[2] only while this node holds the lease in KEYS[1] (a fenced write). */
const SET_IF_LEADER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[2], ARGV[2]) else return 0 end`;

export interface LeaderLeaseOptions {
  /** The lease key in Redis. */
  key: string;
  /** How long a lease lasts without renewal: a crashed leader is replaced after at most this long. */
  ttlMs: number;
  /** Told when this node becomes leader (true) or stops being one (false). */
  onChange(leader: boolean): void;
  logger: Logger;
  /** Names this node in the lease value (for operators reading Redis). */
  nodeId: string;
}

/**
 * A lease-based leader election on one Redis key: `SET key token NX PX ttl` to take it, renewed every
 * third of the ttl while held. At most one node holds it at a time; when the holder dies, another takes
 * over once the ttl runs out. Leadership can be lost (a renewal that finds another token), so work the
 * leader does must be fenced: `setIfLeader` writes only while the lease is still this node's.
 */
export class LeaderLease {
  private readonly token: string;
  private timer: NodeJS.Timeout | undefined;
  private leader = false;
  private stopped = false;
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly options: LeaderLeaseOptions,
  ) {
    this.token = `${options.nodeId}:${randomBytes(8).toString('hex')}`;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Tries to take the lease now and keeps trying (or renewing) every third of the ttl. */
  start(): Promise<void> {
    const interval = Math.max(50, Math.floor(this.options.ttlMs / 3));
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
    return this.tick();
  }

  /** Sets `key` to `value` only while this node holds the lease; false (and leadership dropped) otherwise. */
  async setIfLeader(key: string, value: string): Promise<boolean> {
    const result = await this.redis.eval(SET_IF_LEADER, 2, this.options.key, key, this.token, value);
    if (result === 'OK') return true;
    this.become(false);
    return false;
  }

  /** Stops renewing and hands the lease back at once, so another node need not wait for the ttl. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    if (this.leader) {
      this.become(false);
      await this.redis.eval(RELEASE, 1, this.options.key, this.token).catch(() => {});
    }
  }

  private tick(): Promise<void> {
    this.ticking = this.ticking.then(async () => {
      if (this.stopped) return;
      try {
        if (this.leader) {
          const renewed = await this.redis.eval(RENEW, 1, this.options.key, this.token, String(this.options.ttlMs));
          if (renewed !== 1) this.become(false);
        } else {
          const taken = await this.redis.set(this.options.key, this.token, 'PX', this.options.ttlMs, 'NX');
          if (taken === 'OK') this.become(true);
        }
      } catch (error) {
        // Redis does not answer: the lease will lapse on its own, so stop acting as leader now.
        this.options.logger.warn({ err: error }, 'leader lease: redis error');
        this.become(false);
      }
    });
    return this.ticking;
  }

  private become(leader: boolean): void {
    if (this.leader === leader || (leader && this.stopped)) return;
    this.leader = leader;
    this.options.logger.info({ event: leader ? 'leader-elected' : 'leader-lost', key: this.options.key }, leader ? 'became leader' : 'no longer leader');
    this.options.onChange(leader);
  }
}
