/**
 * The servers compared: livetail and the two socket baselines, and bare Express (the per-request
 * reference: POST /api/logs only, no sockets).
 */
export type TargetKind = 'livetail' | 'bare-ws' | 'socket.io' | 'bare-express';

/** The reconnecting clients of the storm: livetail's SDK, or bare ws sockets with the SDK's backoff. */
export type StormKind = 'livetail' | 'bare-ws';

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
      /**
       * Source addresses (127.0.0.x) the sockets take in turn; the kernel's choice when absent. One
       * address has ~28,000 ephemeral ports, and binding gets slow well before they run out.
       */
      localAddresses?: string[];
    }
  | { op: 'counts'; id: number }
  | { op: 'latency'; id: number; set: string; recording: boolean }
  /** Closes the set's sockets: a close handshake (cut after `timeoutMs`), or at once when `terminate`. */
  | { op: 'close'; id: number; set: string; timeoutMs: number; terminate?: boolean }
  /** Storm: opens reconnecting clients and waits until each is connected (livetail: its first initial-logs). */
  | { op: 'storm-open'; id: number; set: string; kind: StormKind; baseUrl: string; origin: string; sockets: SocketSpec[]; concurrency: number; timeoutMs: number }
  /** Storm: from now on, a client that loses its connection and gets it back counts as resumed. */
  | { op: 'storm-arm'; id: number; set: string }
  /** Storm: waits until every armed client has resumed, or `timeoutMs`. */
  | { op: 'storm-wait'; id: number; set: string; timeoutMs: number }
  /** Storm: each client's delivered logs against the ids the store holds for its user, oldest first. */
  | { op: 'storm-verify'; id: number; set: string; expected: Record<string, string[]> }
  | { op: 'storm-close'; id: number; set: string };

export type WorkerReply =
  | { op: 'open'; id: number; opened: number; failed: number; firstError?: string; ms: number }
  | { op: 'counts'; id: number; counts: Record<string, number>; bytes: Record<string, number> }
  /** Latencies in microseconds, ingest (the harness stamped the batch) to receive, of the messages since recording began. */
  | { op: 'latency'; id: number; samples: Float64Array }
  | { op: 'close'; id: number; closed: number }
  | { op: 'storm-open'; id: number; opened: number; failed: number; firstError?: string; ms: number }
  | { op: 'storm-arm'; id: number; clients: number }
  | ({ op: 'storm-wait'; id: number } & StormResumes)
  | ({ op: 'storm-verify'; id: number } & StormCounts)
  | { op: 'storm-close'; id: number; closed: number }
  | { op: 'error'; id: number; message: string };

/** When the clients of a worker lost and got back their connection. */
export interface StormResumes {
  clients: number;
  /** Clients that lost their connection and got it back (livetail: an initial-logs after the loss). */
  resumed: number;
  /** Per resumed client: when it resumed (µs, monotonicMicros). */
  resumedAt: Float64Array;
  /** Per resumed client: connect attempts it made since the loss. */
  attempts: Float64Array;
}

/** What the clients of a worker delivered, against what the store holds. */
export interface StormCounts {
  clients: number;
  /** Stored logs of the client's user it never delivered. */
  lost: number;
  /** Logs delivered more than once (each extra delivery counts one). */
  doubled: number;
  /** Logs delivered that the store does not hold: delivered without being durable. */
  notStored: number;
  /** Logs delivered out of the store's order. */
  outOfOrder: number;
  clientsWithProblems: number;
  firstProblem?: string;
}

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
