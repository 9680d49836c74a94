import { LIVETAIL_INITIAL_LOGS } from './targets.js';

/** Timings of a flowing workload's windows. */
export interface FlowTiming {
  /** Load before the first window of each target (JIT warm-up). */
  firstWarmupMs: number;
  warmupMs: number;
  windowMs: number;
}

/** One point of the scale curve: the same three targets, `sockets` sockets each. */
export interface Level {
  sockets: number;
  w1?: FlowTiming;
  w2?: FlowTiming;
}

/** How much a run measures and for how long. `full` is the record; `quick` a check; `smoke` the test suite's. */
export interface Profile {
  name: 'full' | 'quick' | 'smoke';
  clientWorkers: number;
  /** Users that sign up through the real endpoint; more are made through better-auth's adapter when needed. */
  signUps: number;
  socketsPerUser: number;
  /** Interleaved rounds (targets A B C, then B C A, ...): figures are the medians over rounds. */
  rounds: number;
  levels: Level[];
  /**
   * Per request: server CPU per POST /api/logs of each of `batches` entries, `inFlight` outstanding,
   * nobody listening, livetail against bare Express 5 + express.json() answering 201 with the body.
   */
  perRequest?: { inFlight: number; batches: number[] } & FlowTiming;
  /**
   * W3 at scale on fresh targets, one at a time: `sockets` idle authenticated sockets on one server
   * (its open-files limit raised when allowed, else capped with a note); the clients spread over client
   * workers and source addresses 127.0.0.x of at most `perAddress` sockets each (ephemeral ports).
   */
  idleScale?: { sockets: number; perAddress: number };
  /**
   * W4: `count` connects at `concurrency`; every user has `storedLogs` logs stored first (INITIAL_LOGS:
   * a full initial-logs), so each connect's initial-logs is read from the store.
   */
  connect?: { count: number; concurrency: number; storedLogs: number };
  /**
   * W5. `inFlight` POSTs outstanding (concurrent producers); `fill`: first bring every user to the
   * retention limit, so each commit also trims, as on a server that has run for a while. `raw`: the
   * reference, raw better-sqlite3 storing the same batches into a copy of the same file.
   */
  ingest?: { warmupMs: number; windowMs: number; postgres: boolean; inFlight: number; fill: boolean; raw: boolean };
  /**
   * The reconnect storm: `clients` SDK clients (bare ws clients with the SDK's backoff for the
   * baseline), users with `storedLogs` logs; a producer posts `logsPerSecond` in POSTs of `batchSize`
   * for `produceMs`, then the server is killed with -9 and restarted on the same data; `rounds` kills
   * per target, each given `timeoutMs` for every client to resume.
   */
  storm?: { clients: number; storedLogs: number; logsPerSecond: number; batchSize: number; produceMs: number; rounds: number; timeoutMs: number };
  /**
   * W6, producers: one POST per entry (`inFlight` outstanding) against livetail/publisher's batches,
   * closed loop; then both at a fixed `entriesPerSecond`, for the latency a producer sees.
   */
  producer?: { warmupMs: number; windowMs: number; inFlight: number; entriesPerSecond: number };
  /** W7: the ImapFlow adapter's CPU per command in the app process, `commands` of each kind per round (needs Dovecot). */
  adapter?: { commands: number; rounds: number };
  /** W1 again with permessage-deflate accepted by every server, and memory per active socket. */
  deflate?: { sockets: number } & FlowTiming;
  /** POSTs (and batches not yet received) outstanding in closed-loop workloads. */
  inFlight: number;
  latencyLogsPerSecond: number;
  /** Logs per POST in W2 (100, as in W1 and W5: one every 50 ms at 2,000 logs/s). */
  latencyBatch: number;
  /** W2 again with small POSTs (10 every 5 ms) at the first level, to show what per-request work costs. */
  smallBatchLatency?: FlowTiming;
  /** A window during which other processes used more than this many cores is disturbed and run again. */
  maxOtherCores: number;
  maxReruns: number;
  /** Reruns stop once the run is this old, so a busy machine cannot stretch it without bound. */
  rerunDeadlineMs: number;
  /** The run aborts itself after this long, whatever happens. */
  hardLimitMs: number;
}

/** W1 at the main point: 3 rounds of 3.3 s = 10 s of measurement per target. */
const W1_MAIN: FlowTiming = { firstWarmupMs: 800, warmupMs: 400, windowMs: 3300 };
const W2_MAIN: FlowTiming = { firstWarmupMs: 400, warmupMs: 300, windowMs: 1500 };
const SCALE: FlowTiming = { firstWarmupMs: 500, warmupMs: 200, windowMs: 900 };

/** What every profile shares: 10 sockets per user, a few POSTs in flight, 2,000 logs/s in POSTs of 100 for W2. */
const COMMON = {
  clientWorkers: 2,
  socketsPerUser: 10,
  inFlight: 4,
  latencyLogsPerSecond: 2000,
  latencyBatch: 100,
  maxOtherCores: 0.15,
} as const;

/** Short profiles do not rerun disturbed windows (they only flag them). */
const NO_RERUNS = { maxReruns: 0, rerunDeadlineMs: 0 } as const;

export const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    ...COMMON,
    name: 'full',
    signUps: 100,
    rounds: 3,
    levels: [
      { sockets: 1000, w1: W1_MAIN, w2: W2_MAIN },
      { sockets: 5000, w1: SCALE, w2: SCALE },
      { sockets: 10_000, w1: SCALE, w2: SCALE },
    ],
    smallBatchLatency: { firstWarmupMs: 200, warmupMs: 200, windowMs: 800 },
    perRequest: { inFlight: 4, batches: [1, 10], firstWarmupMs: 400, warmupMs: 300, windowMs: 1500 },
    idleScale: { sockets: 50_000, perAddress: 4000 },
    connect: { count: 2000, concurrency: 50, storedLogs: LIVETAIL_INITIAL_LOGS },
    ingest: { warmupMs: 400, windowMs: 2000, postgres: true, inFlight: 16, fill: true, raw: true },
    storm: { clients: 10_000, storedLogs: 20, logsPerSecond: 2000, batchSize: 10, produceMs: 1000, rounds: 1, timeoutMs: 120_000 },
    producer: { warmupMs: 400, windowMs: 1500, inFlight: 16, entriesPerSecond: 1000 },
    adapter: { commands: 1500, rounds: 2 },
    deflate: { sockets: 500, firstWarmupMs: 500, warmupMs: 300, windowMs: 1200 },
    maxReruns: 1,
    rerunDeadlineMs: 300_000,
    hardLimitMs: 900_000,
  },
  quick: {
    ...COMMON,
    ...NO_RERUNS,
    name: 'quick',
    signUps: 10,
    rounds: 1,
    levels: [
      { sockets: 1000, w1: { firstWarmupMs: 800, warmupMs: 300, windowMs: 1500 }, w2: { firstWarmupMs: 300, warmupMs: 300, windowMs: 1500 } },
      // A second point, for W1's growth in CPU per delivery (1k → 10k in the full profile).
      { sockets: 2000, w1: { firstWarmupMs: 300, warmupMs: 200, windowMs: 800 } },
    ],
    smallBatchLatency: { firstWarmupMs: 200, warmupMs: 200, windowMs: 800 },
    perRequest: { inFlight: 4, batches: [1, 10], firstWarmupMs: 300, warmupMs: 200, windowMs: 800 },
    // Two source addresses of 1,000 sockets: the path the full profile's 50,000 take, at a small size.
    idleScale: { sockets: 2000, perAddress: 1000 },
    connect: { count: 500, concurrency: 50, storedLogs: LIVETAIL_INITIAL_LOGS },
    ingest: { warmupMs: 300, windowMs: 1200, postgres: true, inFlight: 16, fill: false, raw: true },
    storm: { clients: 500, storedLogs: 20, logsPerSecond: 1000, batchSize: 10, produceMs: 500, rounds: 1, timeoutMs: 60_000 },
    producer: { warmupMs: 300, windowMs: 1000, inFlight: 16, entriesPerSecond: 1000 },
    adapter: { commands: 500, rounds: 2 },
    hardLimitMs: 360_000,
  },
  smoke: {
    ...COMMON,
    ...NO_RERUNS,
    name: 'smoke',
    signUps: 2,
    rounds: 1,
    levels: [{ sockets: 20, w1: { firstWarmupMs: 200, warmupMs: 200, windowMs: 1000 } }],
    perRequest: { inFlight: 4, batches: [1], firstWarmupMs: 100, warmupMs: 100, windowMs: 400 },
    storm: { clients: 20, storedLogs: 5, logsPerSecond: 200, batchSize: 10, produceMs: 300, rounds: 1, timeoutMs: 60_000 },
    producer: { warmupMs: 100, windowMs: 400, inFlight: 4, entriesPerSecond: 1000 },
    adapter: { commands: 30, rounds: 1 },
    hardLimitMs: 240_000,
  },
};
