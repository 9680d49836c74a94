import type { JobEventData } from '../../src/protocol/log-entry.js';

/** Statuses after which a job does not change any more. */
const FINISHED = new Set(['completed', 'failed', 'removed', 'cancelled']);

/** One job as the panel shows it: the latest event, plus what earlier events told us. */
export interface JobView {
  jobId: string;
  /** The latest event's status, with BullMQ's `progress` events shown as `active`. */
  status: string;
  name: string | undefined;
  /** 0–100, or undefined when no event reported progress. */
  progress: number | undefined;
  failure: string | undefined;
  /** Epoch ms of the first event seen (or the job's own start time when an event carries it). */
  startedAt: number;
  /** Epoch ms of the latest event. */
  updatedAt: number;
  /**
   * Milliseconds, from the event's `duration` when it has one, else from the times above; undefined
   * when the job was first seen already finished (its start is unknown).
   */
  durationMs(now: number): number | undefined;
  finished: boolean;
}

/**
 * The jobs panel's state: one entry per job, replaced wholesale by `initial-jobs` and updated by
 * every `job-event`. Job events are free-form beyond `jobId` and `status`; this reads the fields
 * BullMQ uses (`progress`, `failedReason`, `timestamp`, `processedOn`, `finishedOn`) and common
 * alternatives (`error`, `reason`, `duration`), and ignores the rest.
 */
export class JobsModel {
  private readonly jobs = new Map<string, JobView>();

  /** Replaces every job (initial-jobs lists the latest event per job, most recent first). */
  replace(events: readonly JobEventData[], now = Date.now()): void {
    this.jobs.clear();
    for (const event of [...events].reverse()) this.apply(event, now);
  }

  apply(event: JobEventData, now = Date.now()): void {
    const previous = this.jobs.get(event.jobId);
    const at = epochOf(event.timestamp) ?? now;
    const status = event.status === 'progress' ? 'active' : event.status;
    const explicitDuration = typeof event.duration === 'number' && event.duration >= 0 ? event.duration : undefined;
    const processedOn = epochOf(event.processedOn);
    const startedAt = processedOn ?? previous?.startedAt ?? at;
    const finished = FINISHED.has(status);
    const finishedAt = finished ? (epochOf(event.finishedOn) ?? at) : undefined;
    // Decided here, not in durationMs: a closure over `previous` would keep every earlier view of the job alive.
    const startUnknown = finishedAt !== undefined && !previous && processedOn === undefined;
    const progress = status === 'completed' ? 100 : (progressOf(event.progress) ?? previous?.progress);
    this.jobs.delete(event.jobId); // re-inserted last: Map order = least to most recently updated
    this.jobs.set(event.jobId, {
      jobId: event.jobId,
      status,
      name: typeof event.name === 'string' ? event.name : previous?.name,
      progress,
      failure: finished || status === 'stalled' ? failureOf(event) : undefined,
      startedAt,
      updatedAt: at,
      finished,
      durationMs: (clock) => {
        if (explicitDuration !== undefined) return explicitDuration;
        if (startUnknown) return undefined;
        return Math.max(0, (finishedAt ?? clock) - startedAt);
      },
    });
  }

  /** Most recently updated first. */
  list(): JobView[] {
    return [...this.jobs.values()].reverse();
  }

  get anyRunning(): boolean {
    for (const job of this.jobs.values()) if (!job.finished) return true;
    return false;
  }
}

function epochOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** A percentage from a number (0–100) or an object with `percent` / `progress`. */
function progressOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.max(0, Math.min(100, value));
  if (value !== null && typeof value === 'object') {
    const { percent, progress } = value as { percent?: unknown; progress?: unknown };
    return progressOf(percent ?? progress);
  }
  return undefined;
}

function failureOf(event: JobEventData): string | undefined {
  for (const key of ['failedReason', 'error', 'reason']) {
    const value = event[key];
    if (typeof value === 'string' && value) return value;
    if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
      return (value as { message: string }).message;
    }
  }
  return undefined;
}
