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
   * W3 points beyond the last level: that stage's targets grow to this many idle sockets, one target at a
   * time, through extra client workers (a server's sockets are capped by its open-files limit).
   */
  memoryGrowth: number[];
  connect?: { count: number; concurrency: number };
  /**
   * W5. `inFlight` POSTs outstanding (concurrent producers); `fill`: first bring every user to the
   * retention limit, so each commit also trims, as on a server that has run for a while.
   */
  ingest?: { warmupMs: number; windowMs: number; postgres: boolean; inFlight: number; fill: boolean };
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
    memoryGrowth: [20_000],
    connect: { count: 2000, concurrency: 50 },
    ingest: { warmupMs: 400, windowMs: 2000, postgres: true, inFlight: 16, fill: true },
    producer: { warmupMs: 400, windowMs: 1500, inFlight: 16, entriesPerSecond: 1000 },
    adapter: { commands: 1500, rounds: 2 },
    deflate: { sockets: 500, firstWarmupMs: 500, warmupMs: 300, windowMs: 1200 },
    maxReruns: 1,
    rerunDeadlineMs: 200_000,
    hardLimitMs: 600_000,
  },
  quick: {
    ...COMMON,
    ...NO_RERUNS,
    name: 'quick',
    signUps: 10,
    rounds: 1,
    levels: [{ sockets: 1000, w1: { firstWarmupMs: 800, warmupMs: 300, windowMs: 1500 }, w2: { firstWarmupMs: 300, warmupMs: 300, windowMs: 1500 } }],
    memoryGrowth: [],
    connect: { count: 500, concurrency: 50 },
    ingest: { warmupMs: 300, windowMs: 1200, postgres: true, inFlight: 16, fill: false },
    producer: { warmupMs: 300, windowMs: 1000, inFlight: 16, entriesPerSecond: 1000 },
    adapter: { commands: 500, rounds: 2 },
    hardLimitMs: 240_000,
  },
  smoke: {
    ...COMMON,
    ...NO_RERUNS,
    name: 'smoke',
    signUps: 2,
    rounds: 1,
    levels: [{ sockets: 20, w1: { firstWarmupMs: 200, warmupMs: 200, windowMs: 1000 } }],
    memoryGrowth: [],
    producer: { warmupMs: 100, windowMs: 400, inFlight: 4, entriesPerSecond: 1000 },
    adapter: { commands: 30, rounds: 1 },
    hardLimitMs: 240_000,
  },
};
