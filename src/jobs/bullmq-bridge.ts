import { Job, Queue, QueueEvents, type QueueEventsListener } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import type { JobEventData } from '../protocol/log-entry.js';
import { createRedisTemplate, dropRedis, openRedis, pingRedis, quitRedis } from '../redis/redis-connection.js';
import { once } from '../util/once.js';
import { BULLMQ_STATUSES, type BridgedEventName, type BullmqEvent, toJobEventData } from './bullmq-event.js';
import { LeaderLease } from './bullmq-leader.js';
import { JobOwners, type OwnerRecord } from './bullmq-owners.js';
import type { JobService } from './job-service.js';

export interface BullmqBridgeOptions {
  redisUrl: string;
  /** REDIS_PREFIX: livetail's own keys (leader lease, owners, last stream ids) live under it. */
  redisPrefix: string;
  /** BULLMQ_PREFIX: the prefix the application's queues use. */
  bullmqPrefix: string;
  queues: string[];
  nodeId: string;
  jobs: Pick<JobService, 'append'>;
  metrics: Pick<Metrics, 'jobEventsIgnored'>;
  logger: Logger;
  /** Leader lease ttl: a crashed leader's queues are taken over after at most this long. Default 5 s. */
  leaseMs?: number;
  /** How long a job's owner is remembered in Redis. Default 7 days. */
  ownerTtlSeconds?: number;
}

/** A running bridge; `close()` is idempotent. */
export interface BullmqBridge {
  readonly isLeader: boolean;
  /** Resolves when the bridge's Redis answers (the `bullmq` readiness check); rejects at once while it is disconnected. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Tries before a job event that cannot be stored is given up (and counted as ignored). */
const PUBLISH_ATTEMPTS = 3;

/**
 * How long `close()` lets Redis answer its last commands (handing the lease back, the readers' last
 * handled events) before it drops the connection, failing whatever still waits on it.
 */
const CLOSE_GRACE_MS = 1000;

/**
 * Turns the events of the application's BullMQ queues into `job-event`s for each job's owner
 * (`job.data.userId`), through the job service (so initial-jobs state is kept too).
 *
 * Every QueueEvents reader sees every event (a Redis stream read without a consumer group), so with N
 * nodes only one may publish: the nodes elect a leader through a lease in Redis, and only the leader
 * reads the queues. Events of one queue are handled one after another in stream order, so each job's
 * events reach its owner in BullMQ's order. The id of the last handled event is stored in Redis (a write
 * fenced by the lease) and a new leader, or a restarted node, resumes right after it: events emitted
 * while no node was reading are not lost. A failover may repeat the last events the old leader handled
 * but had not recorded yet (at least once; duplicates are rare and only at failover).
 *
 * Only BullMQ's public API is used: `QueueEvents` (typed listeners, `lastEventId`), `Job.fromId`. Checked
 * against bullmq 6.7.0.
 */
export async function startBullmqBridge(options: BullmqBridgeOptions): Promise<BullmqBridge> {
  const redis = await openRedis(options.redisUrl, 'bullmq');
  const bridge = new Bridge(redis, options);
  try {
    await bridge.start();
  } catch (error) {
    await bridge.close();
    throw error;
  }
  return bridge;
}

/** One queue read by the leader: its QueueEvents, and the events waiting to be handled in order. */
interface Reader {
  events: QueueEvents;
  /** The template handed to `events`, and the connections BullMQ made from it (its blocking reads). */
  connections: { template: Redis; duplicates: Redis[] };
  queue: Queue;
  backlog: BullmqEvent[];
  draining: Promise<void> | undefined;
  stopped: boolean;
}

class Bridge implements BullmqBridge {
  private readonly lease: LeaderLease;
  private readonly owners: JobOwners;
  private readonly readers = new Map<string, Reader>();
  /** Owner look-ups started when a job's `added` event arrived, by `queue:jobId`, until it is handled. */
  private readonly lookups = new Map<string, Promise<OwnerRecord | undefined>>();
  /** Leadership changes are applied one at a time (starting and stopping readers is async). */
  private transitions: Promise<void> = Promise.resolve();
  private closing = false;

  /** @param redis the bridge's own commands and its Queues' reads (shared: BullMQ leaves it open). */
  constructor(
    private readonly redis: Redis,
    private readonly options: BullmqBridgeOptions,
  ) {
    this.lease = new LeaderLease(redis, {
      key: `${options.redisPrefix}bullmq:leader`,
      ttlMs: options.leaseMs ?? 5000,
      nodeId: options.nodeId,
      logger: options.logger,
      onChange: (leader) => {
        this.transitions = this.transitions.then(() => (leader ? this.startReaders() : this.stopReaders())).catch((error) => {
          options.logger.error({ err: error }, 'bullmq bridge: could not switch leadership');
        });
      },
    });
    this.owners = new JobOwners(redis, `${options.redisPrefix}bullmq:owner:`, options.ownerTtlSeconds ?? 7 * 24 * 3600);
  }

  get isLeader(): boolean {
    return this.lease.isLeader;
  }

  ping(): Promise<void> {
    return pingRedis(this.redis);
  }

  async start(): Promise<void> {
    await this.lease.start();
    await this.transitions;
  }

  /**
   * Hands the lease back, stops the readers (each after the event it is handling) and closes the
   * connections; prompt whatever Redis does. While Redis answers that takes a round trip or two; while it
   * does not, every command would wait in ioredis' queue through its reconnects (20 of them for the
   * `bullmq` role, over half a minute). So a connection that is down is dropped at once, and one that
   * answers is dropped if that takes longer than CLOSE_GRACE_MS: what still waits on it fails, and a
   * lease not handed back lapses after its ttl.
   */
  readonly close = once(async () => {
    this.closing = true;
    if (this.redis.status !== 'ready') dropRedis(this.redis);
    const grace = setTimeout(() => dropRedis(this.redis), CLOSE_GRACE_MS);
    try {
      await this.lease.stop();
      await this.transitions;
      await this.stopReaders();
    } finally {
      clearTimeout(grace);
    }
    await quitRedis(this.redis);
  });

  private lastIdKey(queue: string): string {
    return `${this.options.redisPrefix}bullmq:last-event:${queue}`;
  }

  private async startReaders(): Promise<void> {
    for (const name of this.options.queues) {
      const queue = new Queue(name, { connection: this.redis, prefix: this.options.bullmqPrefix });
      queue.on('error', (error) => this.options.logger.warn({ err: error, queue: name }, 'bullmq queue connection error'));
      const lastEventId = await this.resumeFrom(name);
      const connections = createRedisTemplate(this.options.redisUrl, 'bullmq-events');
      const events = new QueueEvents(name, { connection: connections.template, prefix: this.options.bullmqPrefix, lastEventId, autorun: false });
      const reader: Reader = { events, connections, queue, backlog: [], draining: undefined, stopped: false };
      events.on('error', (error) => this.options.logger.warn({ err: error, queue: name }, 'bullmq queue events connection error'));
      const enqueue = (event: BullmqEvent) => {
        // Look the owner up at once, not when the event's turn comes: a fast worker may run and remove
        // the job meanwhile, and then nothing tells whose it was.
        if (event.status === 'added' && event.args.jobId) this.lookUpOwner(name, queue, event.args.jobId);
        reader.backlog.push(event);
        reader.draining ??= this.drain(name, reader);
      };
      for (const status of ['added', ...BULLMQ_STATUSES] as const) listen(events, status, enqueue);
      this.readers.set(name, reader);
      events.run().catch((error) => this.options.logger.error({ err: error, queue: name }, 'bullmq queue events stopped'));
      this.options.logger.info({ event: 'bullmq-reading', queue: name, from: lastEventId }, `reading BullMQ queue ${name} from event ${lastEventId}`);
    }
  }

  private async stopReaders(): Promise<void> {
    const readers = [...this.readers.values()];
    this.readers.clear();
    this.lookups.clear();
    for (const reader of readers) reader.stopped = true;
    await Promise.all(
      readers.map(async (reader) => {
        // QueueEvents.close() force-disconnects its connection and waits for its 'end', which ioredis
        // never emits for a connection between two reconnect attempts (as after a Redis restart, until
        // its retry timer fires): dropped here first, so close() finds it ended (see dropRedis).
        for (const connection of [...reader.connections.duplicates, reader.connections.template]) dropRedis(connection);
        await reader.events.close().catch(() => {});
        await reader.draining;
        await reader.queue.close().catch(() => {});
      }),
    );
  }

  /**
   * Where to start reading: after the last event handled (by any node), or, on the very first start,
   * from now. QueueEvents' default `$` is no start for the bridge: it means "after the newest entry" each
   * time an XREAD starts from it, so what is emitted before the first read returns, or between two
   * reads that found nothing, would be missed (bullmq 6.7.0 `consumeEvents` keeps `$` until an event
   * arrives). A stream entry's id is the Redis server's time in ms when it was added, so "now" is the
   * server's TIME as an id: every entry added from here on has a greater one. That start is recorded
   * (fenced) at once, so a node taking over before any event was handled resumes from it too.
   */
  private async resumeFrom(name: string): Promise<string> {
    const stored = await this.redis.get(this.lastIdKey(name));
    if (stored) return stored;
    const [seconds, micros] = await this.redis.time();
    const now = `${Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)}-0`;
    await this.lease.setIfLeader(this.lastIdKey(name), now);
    return now;
  }

  private async drain(name: string, reader: Reader): Promise<void> {
    try {
      while (reader.backlog.length > 0 && !reader.stopped) {
        const event = reader.backlog.shift()!;
        await this.handle(name, reader.queue, event);
        // Fenced: a node that lost the lease stops here instead of moving the position backwards.
        if (!(await this.lease.setIfLeader(this.lastIdKey(name), event.id))) reader.stopped = true;
      }
    } catch (error) {
      // Closing dropped the connection under it: the event is not recorded, so the next leader reads it.
      if (this.closing) return;
      this.options.logger.error({ err: error, queue: name }, 'bullmq bridge: handling an event failed; reading again from the last recorded event');
      // Start over from the recorded position (the failed event is read again) after a pause.
      reader.stopped = true;
      setTimeout(() => {
        if (this.lease.isLeader) this.transitions = this.transitions.then(() => this.restartReaders());
      }, 1000).unref();
    } finally {
      reader.draining = undefined;
    }
  }

  /** Reads every queue again from its recorded position (all at once: a failure is rare, and simple beats fine-grained). */
  private async restartReaders(): Promise<void> {
    if (this.readers.size === 0 || !this.lease.isLeader) return;
    await this.stopReaders();
    if (this.lease.isLeader) await this.startReaders();
  }

  private async handle(name: string, queue: Queue, event: BullmqEvent): Promise<void> {
    const jobId = event.args.jobId;
    if (!jobId) return;
    let owner = await this.owners.get(name, jobId);
    if (owner === undefined) owner = await this.lookUpOwner(name, queue, jobId);
    if (event.status === 'added') {
      this.lookups.delete(`${name}:${jobId}`);
      return; // folded into the waiting (or delayed) event that follows
    }
    if (owner === undefined) return this.ignored('unknown-job');
    if (owner === null) return this.ignored('no-user-id');

    const job = await Job.fromId(queue, jobId);
    // A removed job keeps its last known count; finishing (completed, failed) counts the attempt that ended.
    const attemptsMade = job ? job.attemptsMade : owner.attemptsMade + (event.status === 'completed' || event.status === 'failed' ? 1 : 0);
    this.owners.noteAttempts(name, jobId, attemptsMade);
    const data = toJobEventData(name, event, { jobId, name: owner.name, attemptsMade });
    await this.publish({ ...data, userId: owner.userId });
  }

  /** Starts (or joins) reading the job's owner; settles with undefined when the job is already gone. */
  private lookUpOwner(name: string, queue: Queue, jobId: string): Promise<OwnerRecord | undefined> {
    const key = `${name}:${jobId}`;
    let lookup = this.lookups.get(key);
    if (!lookup) {
      lookup = this.learnOwner(name, queue, jobId);
      lookup.catch(() => this.lookups.delete(key));
      this.lookups.set(key, lookup);
    }
    return lookup;
  }

  /** Reads the job once (its first event) to learn its owner; undefined when the job is already gone. */
  private async learnOwner(name: string, queue: Queue, jobId: string): Promise<OwnerRecord | undefined> {
    const job = await Job.fromId(queue, jobId);
    if (!job) return undefined;
    const userId = (job.data as { userId?: unknown } | undefined)?.userId;
    const record: OwnerRecord =
      (typeof userId === 'string' && userId !== '') || typeof userId === 'number'
        ? { userId: String(userId), name: job.name, attemptsMade: job.attemptsMade ?? 0 }
        : null;
    await this.owners.remember(name, jobId, record);
    return record;
  }

  private async publish(event: JobEventData): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.jobs.append(event, 'bullmq');
        return;
      } catch (error) {
        if (attempt >= PUBLISH_ATTEMPTS) {
          this.options.logger.error({ err: error, jobId: event.jobId }, 'bullmq bridge: job event could not be stored; dropped');
          return this.ignored('publish-failed');
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  private ignored(reason: string): void {
    this.options.metrics.jobEventsIgnored.labels(reason).inc();
  }
}

/** Hands each `status` event of `events` to `handle`, with the arguments BullMQ's `QueueEventsListener` gives it. */
function listen<S extends BridgedEventName>(events: QueueEvents, status: S, handle: (event: BullmqEvent<S>) => void): void {
  // TypeScript does not resolve BullmqEvent<S> or QueueEventsListener[S] for a generic S, hence the
  // two casts; for each S the listener is exactly BullMQ's signature for that event.
  const listener = (args: BullmqEvent<S>['args'], id: string) => handle({ status, args, id } as BullmqEvent<S>);
  events.on(status, listener as QueueEventsListener[S]);
}
