import type { Redis } from 'ioredis';

/** Who owns a job, as learned from the job itself on its first event. */
export interface JobOwner {
  userId: string;
  name: string;
  /** The job's attempts count when last seen; used once the job itself is gone. */
  attemptsMade: number;
}

/** What is known about a job: its owner, or `null` when the job has no userId (ignored). */
export type OwnerRecord = JobOwner | null;

const MEMORY_LIMIT = 10_000;

/**
 * Remembers each job's owner from its first event, because QueueEvents carry no job data and the job
 * itself may be gone by the time a later event is handled (removeOnComplete). Kept in memory (bounded,
 * least recently used dropped first) and in Redis with a ttl, so a node that takes over as leader knows
 * the owners of jobs that started before.
 */
export class JobOwners {
  private readonly memory = new Map<string, OwnerRecord>();

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly ttlSeconds: number,
  ) {}

  /** The remembered record; undefined when this job was never seen. */
  async get(queue: string, jobId: string): Promise<OwnerRecord | undefined> {
    const key = this.key(queue, jobId);
    if (this.memory.has(key)) {
      const record = this.memory.get(key)!;
      this.touch(key, record);
      return record;
    }
    const stored = await this.redis.get(key);
    if (stored === null) return undefined;
    const record = JSON.parse(stored) as OwnerRecord;
    this.touch(key, record);
    return record;
  }

  async remember(queue: string, jobId: string, record: OwnerRecord): Promise<void> {
    const key = this.key(queue, jobId);
    this.touch(key, record);
    await this.redis.set(key, JSON.stringify(record), 'EX', this.ttlSeconds);
  }

  /** Updates the in-memory attempts count (Redis keeps the first record; it serves only failover). */
  noteAttempts(queue: string, jobId: string, attemptsMade: number): void {
    const record = this.memory.get(this.key(queue, jobId));
    if (record) record.attemptsMade = attemptsMade;
  }

  private key(queue: string, jobId: string): string {
    return `${this.keyPrefix}${queue}:${jobId}`;
  }

  private touch(key: string, record: OwnerRecord): void {
    this.memory.delete(key);
    this.memory.set(key, record);
    if (this.memory.size > MEMORY_LIMIT) this.memory.delete(this.memory.keys().next().value!);
  }
}
