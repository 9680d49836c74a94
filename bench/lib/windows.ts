import { monotonicMicros } from '../load/messages.js';
import { waitFor } from './children.js';
import { CpuMeter, type CpuUse } from './cpu-meter.js';
import { logBatch } from './poster.js';
import { processCpuSeconds } from './proc-stat.js';
import type { Stage } from './stage.js';
import { percentiles } from './stats.js';

/** One measurement window: its figures and where the CPU went meanwhile. */
export interface WindowResult {
  cpu: CpuUse;
  /** Problems that make the figures suspect (failed posts, lost messages); empty when clean. */
  errors: string[];
}

export interface FanoutWindow extends WindowResult {
  deliveries: number;
  deliveriesPerSecond: number;
  /** Server CPU µs per delivered message (ingest, store and fan-out all included). */
  serverMicrosPerDelivery: number;
  messageBytes: number;
}

export interface LatencyWindow extends FanoutWindow {
  /** Ingest-to-receive latency in ms. */
  p50: number;
  p99: number;
  p999: number;
  samples: number;
}

export interface ConnectWindow extends WindowResult {
  connects: number;
  connectsPerSecond: number;
  serverMicrosPerConnect: number;
}

export interface IngestWindow extends WindowResult {
  logs: number;
  /** POSTs answered 201. */
  requests: number;
  logsPerSecond: number;
  serverMicrosPerLog: number;
  serverMicrosPerRequest: number;
  /** Server plus database server processes (PostgreSQL backends; SQLite runs inside the server). */
  withDatabaseMicrosPerLog: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the server has finished what the last window left it (closes, a drain): its CPU over a
 * 100 ms slice under 10 % of a core (one clock tick: /proc counts in 10 ms), or 5 s at most.
 */
export async function settle(pid: number): Promise<void> {
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline) {
    const before = processCpuSeconds(pid) ?? 0;
    await sleep(100);
    if ((processCpuSeconds(pid) ?? 0) - before <= 0.01) return;
  }
}

/**
 * Keeps log batches flowing to one target and lets the caller measure in the middle of the flow.
 * Closed loop: at most `inFlight` POSTs outstanding, and at most `inFlight` batches' worth of messages
 * posted but not yet received by the clients, so neither side buffers without bound and the rate is
 * whatever the slower of server and clients sustains. `interval` instead sends one batch every
 * `interval` ms (open loop, a fixed rate), still never more than 64 POSTs outstanding.
 */
export class Feeder {
  private running = true;
  private inFlight = 0;
  private posted = 0;
  private base = 0;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: () => void = () => {};
  acked = 0;
  /** POSTs answered 201. */
  ackedRequests = 0;
  failed = 0;
  skipped = 0;
  firstFailure: string | undefined;

  constructor(
    private readonly stage: Stage,
    private readonly name: string,
    private readonly batchSize: number,
    /** Messages one batch becomes (logs × sockets per user); 0 when nobody listens (ingest). */
    private readonly deliveriesPerBatch: number,
    private readonly mode: { inFlight: number } | { intervalMs: number },
  ) {}

  async start(): Promise<void> {
    this.base = (await this.stage.pool.received(this.stage.setName(this.name))).count;
    if ('inFlight' in this.mode) {
      this.unsubscribe = this.stage.pool.onProgress(() => this.pump());
      this.pump();
    } else {
      const { intervalMs } = this.mode;
      const t0 = performance.now();
      let k = 0;
      const tick = () => {
        if (!this.running) return;
        for (const now = performance.now(); t0 + k * intervalMs <= now; k++) {
          if (this.inFlight < 64) this.send();
          else this.skipped++;
        }
        this.timer = setTimeout(tick, Math.max(0, t0 + k * intervalMs - performance.now()));
      };
      tick();
    }
  }

  /** Stops sending and waits until every posted batch is answered and every message received (10 s at most). */
  async stop(): Promise<string[]> {
    this.running = false;
    clearTimeout(this.timer);
    const errors: string[] = [];
    try {
      await waitFor(() => this.inFlight === 0 && this.outstanding() <= 0, 10_000, 'the last messages', 10);
    } catch {
      const lost = this.outstanding();
      if (lost > 0) errors.push(`${lost} messages not received`);
      if (this.inFlight > 0) errors.push(`${this.inFlight} POSTs unanswered`);
    }
    this.unsubscribe();
    if (this.failed > 0) errors.push(`${this.failed} POSTs failed (${this.firstFailure})`);
    if (this.skipped > 0) errors.push(`${this.skipped} batches not sent on time (64 POSTs outstanding)`);
    return errors;
  }

  private outstanding(): number {
    if (this.deliveriesPerBatch === 0) return 0;
    return this.posted - (this.stage.pool.reportedReceived(this.stage.setName(this.name)) - this.base);
  }

  private pump(): void {
    if (!('inFlight' in this.mode)) return;
    const limit = this.mode.inFlight;
    while (this.running && this.inFlight < limit && (this.deliveriesPerBatch === 0 || this.outstanding() < limit * this.deliveriesPerBatch)) this.send();
  }

  private send(): void {
    this.inFlight++;
    this.posted += this.deliveriesPerBatch;
    const body = logBatch(this.stage.userIds, this.batchSize, monotonicMicros());
    this.stage
      .entry(this.name)
      .poster.post(body)
      .then(
        (status) => {
          if (status === 201) {
            this.acked += this.batchSize;
            this.ackedRequests++;
          } else this.fail(`HTTP ${status}`);
        },
        (error: Error) => this.fail(error.message),
      )
      .finally(() => {
        this.inFlight--;
        this.pump();
      });
  }

  private fail(reason: string): void {
    this.failed++;
    this.firstFailure ??= reason;
  }
}

export interface FlowOptions {
  warmupMs: number;
  windowMs: number;
  /** Sockets each user has open in this stage: a log becomes this many messages. */
  socketsPerUser: number;
}

/** W1: batches of 100 logs for random users, a few in flight; deliveries/s and server CPU per delivery. */
export async function fanoutWindow(stage: Stage, name: string, o: FlowOptions & { inFlight: number }): Promise<FanoutWindow> {
  const feeder = new Feeder(stage, name, 100, 100 * o.socketsPerUser, { inFlight: o.inFlight });
  return measureFlow(stage, name, feeder, o);
}

/** W2: a fixed rate of logs in batches of `batchSize` (e.g. 100 every 50 ms = 2,000 logs/s); ingest-to-receive latency. */
export async function latencyWindow(stage: Stage, name: string, o: FlowOptions & { logsPerSecond: number; batchSize: number }): Promise<LatencyWindow> {
  const { batchSize } = o;
  const feeder = new Feeder(stage, name, batchSize, batchSize * o.socketsPerUser, { intervalMs: (1000 * batchSize) / o.logsPerSecond });
  const set = stage.setName(name);
  let samples: Float64Array = new Float64Array(0);
  const measured = await measureFlow(stage, name, feeder, o, {
    begin: () => stage.pool.latency(set, true).then(() => undefined),
    end: async () => {
      samples = await stage.pool.latency(set, false);
    },
  });
  const [p50, p99, p999] = percentiles(samples, [50, 99, 99.9]).map((us) => us / 1000) as [number, number, number];
  return { ...measured, p50, p99, p999, samples: samples.length };
}

async function measureFlow(
  stage: Stage,
  name: string,
  feeder: Feeder,
  o: FlowOptions,
  hooks: { begin?(): Promise<void>; end?(): Promise<void> } = {},
): Promise<FanoutWindow> {
  const set = stage.setName(name);
  await settle(stage.entry(name).target.pid);
  const meter = new CpuMeter(await stage.roles(name));
  await feeder.start();
  await sleep(o.warmupMs);
  await hooks.begin?.();
  meter.begin();
  const before = await stage.pool.received(set);
  await sleep(o.windowMs);
  const after = await stage.pool.received(set);
  const cpu = meter.end();
  await hooks.end?.();
  const errors = await feeder.stop();
  const deliveries = after.count - before.count;
  return {
    cpu,
    errors,
    deliveries,
    deliveriesPerSecond: deliveries / cpu.seconds,
    serverMicrosPerDelivery: deliveries > 0 ? (cpu.serverSeconds * 1e6) / deliveries : Number.NaN,
    messageBytes: after.messageBytes,
  };
}

/** W4: `count` connects at `concurrency`, each done when the socket can receive; then they close. */
export async function connectWindow(stage: Stage, name: string, o: { count: number; concurrency: number; round: number }): Promise<ConnectWindow> {
  const suffix = `#connect-${o.round}`;
  await settle(stage.entry(name).target.pid);
  const meter = new CpuMeter(await stage.roles(name));
  meter.begin();
  const sockets = Array.from({ length: o.count }, (_, i) => stage.users[i % stage.users.length]!);
  const result = await stage.open(name, sockets, o.concurrency, suffix);
  const cpu = meter.end();
  await stage.closeSockets(name, suffix, true);
  const seconds = result.ms / 1000;
  return {
    cpu,
    errors: [],
    connects: result.opened,
    connectsPerSecond: result.opened / seconds,
    serverMicrosPerConnect: (cpu.serverSeconds * 1e6) / result.opened,
  };
}

/**
 * W5: batches of 100 logs (`batchSize`), a few in flight, nobody listening; logs stored (acknowledged
 * with 201) per second. W6 runs it with batches of 1: one POST per entry, as producers do by hand; the
 * per-request rows with batches of 1 and 10 against bare Express, for the server CPU per POST.
 */
export async function ingestWindow(stage: Stage, name: string, o: { warmupMs: number; windowMs: number; inFlight: number; batchSize?: number }): Promise<IngestWindow> {
  const feeder = new Feeder(stage, name, o.batchSize ?? 100, 0, { inFlight: o.inFlight });
  await settle(stage.entry(name).target.pid);
  const meter = new CpuMeter(await stage.roles(name));
  await feeder.start();
  await sleep(o.warmupMs);
  meter.begin();
  const before = feeder.acked;
  const requestsBefore = feeder.ackedRequests;
  await sleep(o.windowMs);
  const logs = feeder.acked - before;
  const requests = feeder.ackedRequests - requestsBefore;
  const cpu = meter.end();
  const errors = await feeder.stop();
  return {
    cpu,
    errors,
    logs,
    requests,
    logsPerSecond: logs / cpu.seconds,
    serverMicrosPerLog: (cpu.serverSeconds * 1e6) / logs,
    serverMicrosPerRequest: (cpu.serverSeconds * 1e6) / requests,
    withDatabaseMicrosPerLog: ((cpu.serverSeconds + cpu.databaseSeconds) * 1e6) / logs,
  };
}
