/** The three servers compared. */
export type TargetKind = 'livetail' | 'bare-ws' | 'socket.io';

/** One socket to open: whose it is, and the session cookie livetail needs. */
export interface SocketSpec {
  userId: string;
  cookie?: string;
}

/** Requests the harness sends a client worker (over the IPC channel); each is answered once, by `id`. */
export type WorkerRequest =
  | {
      op: 'open';
      id: number;
      /** A name for this set of sockets, e.g. `livetail`; counts are kept per set. */
      set: string;
      kind: TargetKind;
      /** http://127.0.0.1:port of the target. */
      baseUrl: string;
      origin: string;
      sockets: SocketSpec[];
      concurrency: number;
      timeoutMs: number;
    }
  | { op: 'counts'; id: number }
  | { op: 'latency'; id: number; set: string; recording: boolean }
  /** Closes the set's sockets: a close handshake (cut after `timeoutMs`), or at once when `terminate`. */
  | { op: 'close'; id: number; set: string; timeoutMs: number; terminate?: boolean };

export type WorkerReply =
  | { op: 'open'; id: number; opened: number; failed: number; firstError?: string; ms: number }
  | { op: 'counts'; id: number; counts: Record<string, number>; bytes: Record<string, number> }
  /** Latencies in microseconds, ingest (the harness stamped the batch) to receive, of the messages since recording began. */
  | { op: 'latency'; id: number; samples: Float64Array }
  | { op: 'close'; id: number; closed: number }
  | { op: 'error'; id: number; message: string };

/** Pushed by a worker, unasked, whenever its counts moved: the harness's flow control reads them. */
export interface WorkerProgress {
  op: 'progress';
  counts: Record<string, number>;
}

/** Sent once by a worker when it is listening for requests. */
export interface WorkerReady {
  op: 'ready';
}

/** The key under which the harness stamps each posted log with the time it was sent. */
export const SENT_AT_KEY = 'sentAt';

/** The monotonic clock every process on the machine shares (CLOCK_MONOTONIC), in microseconds. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
