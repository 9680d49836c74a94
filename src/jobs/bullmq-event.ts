import type { QueueEventsListener } from 'bullmq';

/**
 * The QueueEvents events that become `job-event`s, by the status they carry. `added` is not among them:
 * BullMQ follows it at once with `waiting` (or `delayed`) for the same job, so it is folded into that
 * event and serves only to learn the job's owner.
 */
export const BULLMQ_STATUSES = ['waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled', 'removed'] as const;
export type BullmqStatus = (typeof BULLMQ_STATUSES)[number];

/** The QueueEvents events the bridge listens to. */
export type BridgedEventName = BullmqStatus | 'added';

/**
 * One event as BullMQ's `QueueEventsListener` hands it over (`args` already JSON-decoded), with `id`,
 * its entry id in the queue's events stream (`<ms>-<n>`). A union by `status`, so each status's `args`
 * are BullMQ's own type for that event.
 */
export type BullmqEvent<S extends BridgedEventName = BridgedEventName> = S extends BridgedEventName
  ? { status: S; args: Parameters<QueueEventsListener[S]>[0]; id: string }
  : never;

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

/** Builds the job-event data of one event. */
export function toJobEventData(queue: string, event: BullmqEvent<BullmqStatus>, job: { jobId: string; name: string; attemptsMade: number }): BullmqJobEventData {
  const data: BullmqJobEventData = { jobId: job.jobId, queue, name: job.name, status: event.status, attemptsMade: job.attemptsMade, timestamp: streamTime(event.id) };
  // The fields are read from the stream as strings and decoded by BullMQ; an event written by another
  // producer may lack them, hence the defaults.
  if (event.status === 'progress') data.progress = event.args.data;
  if (event.status === 'completed') data.result = event.args.returnvalue ?? null;
  if (event.status === 'failed') data.failedReason = event.args.failedReason ?? '';
  if (event.status === 'delayed' && typeof event.args.delay === 'number') data.delay = event.args.delay;
  return data;
}

function streamTime(streamId: string): string {
  const ms = Number(streamId.split('-')[0]);
  return new Date(Number.isFinite(ms) ? ms : Date.now()).toISOString();
}
