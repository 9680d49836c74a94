/**
 * The QueueEvents events that become `job-event`s, by the status they carry. `added` is not among them:
 * BullMQ follows it at once with `waiting` (or `delayed`) for the same job, so it is folded into that
 * event and serves only to learn the job's owner.
 */
export const BULLMQ_STATUSES = ['waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled', 'removed'] as const;
export type BullmqStatus = (typeof BULLMQ_STATUSES)[number];

/** The fields of one QueueEvents event as BullMQ hands them to listeners (already JSON-decoded). */
export interface QueueEventArgs {
  jobId?: string;
  name?: string;
  /** `progress`: the new progress value. */
  data?: unknown;
  /** `completed`: the job's return value. */
  returnvalue?: unknown;
  /** `failed`: why. */
  failedReason?: string;
  /** `delayed`: when the job will run (ms since epoch). */
  delay?: number;
  prev?: string;
}

/** The `data` of the job-event published for a BullMQ event (userId is added by the job service). */
export interface BullmqJobEventData {
  jobId: string;
  queue: string;
  name: string;
  status: BullmqStatus;
  progress?: unknown;
  result?: unknown;
  failedReason?: string;
  delay?: number;
  attemptsMade: number;
  /** When BullMQ emitted the event: the time part of its stream id, so every node agrees on it. */
  timestamp: string;
}

/** Builds the job-event data of one event; `streamId` is the events stream entry id (`<ms>-<n>`). */
export function toJobEventData(
  queue: string,
  status: BullmqStatus,
  args: QueueEventArgs,
  job: { jobId: string; name: string; attemptsMade: number },
  streamId: string,
): BullmqJobEventData {
  const data: BullmqJobEventData = { jobId: job.jobId, queue, name: job.name, status, attemptsMade: job.attemptsMade, timestamp: streamTime(streamId) };
  if (status === 'progress') data.progress = args.data;
  if (status === 'completed') data.result = args.returnvalue ?? null;
  if (status === 'failed') data.failedReason = args.failedReason ?? '';
  if (status === 'delayed' && typeof args.delay === 'number') data.delay = args.delay;
  return data;
}

function streamTime(streamId: string): string {
  const ms = Number(streamId.split('-')[0]);
  return new Date(Number.isFinite(ms) ? ms : Date.now()).toISOString();
}
