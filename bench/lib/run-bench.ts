import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TargetKind } from '../load/messages.js';
import { measureAdapterCost } from './adapter-cost.js';
import { ClientPool } from './client-pool.js';
import { killAll } from './children.js';
import { fillToRetention } from './fill-store.js';
import { freshPostgresDatabase } from './postgres.js';
import type { FlowTiming, Profile } from './profiles.js';
import { directLatencyWindow, publisherLatencyWindow, publisherWindow } from './producer-windows.js';
import { type LevelResult, type MachineFacts, type Measured, ONE_PER_ENTRY, PUBLISHER, type PerSocketMemory, type Results, type Series } from './results.js';
import { type RunContext, Stage } from './stage.js';
import { LIVETAIL_MAX_LOGS_PER_USER, type MemoryReading, TARGETS } from './targets.js';
import { type BenchUser, prepareUsers } from './users.js';
import { type WindowResult, connectWindow, fanoutWindow, ingestWindow, latencyWindow, settle } from './windows.js';

export interface RunOptions {
  profile: Profile;
  /** Progress lines (stderr in the CLI). */
  log(line: string): void;
  /** livetail writes V8 CPU profiles here (node --cpu-prof). */
  cpuProfDir?: string;
  /** Admin URL of a PostgreSQL server where a fresh database may be created for W5. */
  postgresUrl?: string;
}

/**
 * Runs every workload of the profile and returns the raw figures. Targets start fresh for each stage;
 * within a stage they are measured in interleaved rounds; every process started is stopped at the end,
 * and the run aborts itself after the profile's hard limit.
 */
export async function runBench(options: RunOptions): Promise<Results> {
  const { profile, log } = options;
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s`;
  const say = (line: string) => log(`[${elapsed()}] ${line}`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-bench-'));
  const hardLimit = setTimeout(() => {
    log(`the run passed its hard limit of ${profile.hardLimitMs / 1000} s: stopping every process and exiting`);
    killAll();
    process.exit(3);
  }, profile.hardLimitMs).unref();

  const results: Results = {
    profile: profile.name,
    startedAt: new Date().toISOString(),
    seconds: 0,
    machine: machineFacts(),
    settings: {
      clientWorkers: profile.clientWorkers,
      socketsPerUser: profile.socketsPerUser,
      inFlight: profile.inFlight,
      latencyLogsPerSecond: profile.latencyLogsPerSecond,
      latencyBatch: profile.latencyBatch,
      ingestInFlight: profile.ingest?.inFlight,
      ingestFilled: profile.ingest?.fill,
      maxOtherCores: profile.maxOtherCores,
    },
    users: { signedUp: 0, total: 0 },
    kinds: { livetail: 'livetail', 'bare-ws': 'bare-ws', 'socket.io': 'socket.io', sqlite: 'livetail', postgres: 'livetail' },
    levels: [],
    memoryGrowth: [],
    notes: [],
  };

  let pool: ClientPool | undefined;
  try {
    const fdCap = results.machine.openFilesLimit - 250;
    const memoryGrowth = profile.memoryGrowth.map((n) => {
      if (n <= fdCap) return n;
      results.notes.push(`W3 at ${n.toLocaleString('en')} sockets ran with ${fdCap.toLocaleString('en')}: a server process may open ${results.machine.openFilesLimit.toLocaleString('en')} files here (ulimit -Hn).`);
      return fdCap;
    });
    const maxSockets = Math.max(...profile.levels.map((l) => l.sockets), ...memoryGrowth, profile.deflate?.sockets ?? 0);
    const userCount = Math.ceil(maxSockets / profile.socketsPerUser);
    say(`preparing ${userCount} users (${Math.min(profile.signUps, userCount)} real sign-ups) in ${workDir}`);
    const template = await prepareUsers(path.join(workDir, 'template'), userCount, profile.signUps);
    results.users = { signedUp: template.signedUp, total: template.users.length };
    pool = await ClientPool.start(profile.clientWorkers);
    say(`users ready; ${profile.clientWorkers} client workers started`);
    const ctx: RunContext = { workDir, template, pool, cpuProfDir: options.cpuProfDir };
    const rerun = new Reruns(profile, started, say);
    const usersFor = (sockets: number) => template.users.slice(0, Math.ceil(sockets / profile.socketsPerUser));
    const three = TARGETS.map((kind) => ({ name: kind, kind }));

    for (const level of profile.levels) {
      const perUser = Math.min(profile.socketsPerUser, level.sockets);
      const users = usersFor(level.sockets);
      const stage = await Stage.start(ctx, `${level.sockets}-sockets`, three, users);
      say(`${level.sockets} sockets: targets started`);
      try {
        const result: LevelResult = { sockets: users.length * perUser, users: users.length, memory: {} };
        results.levels.push(result);
        for (const { name } of three) {
          result.memory[name] = strip1(await openMeasuringMemory(stage, name, perUser));
          say(`${name}: ${result.sockets} sockets open, ${describeMemory(result.memory[name]!)}`);
        }
        const flow = { socketsPerUser: perUser };
        if (level.w1) {
          result.fanout = await rounds(profile, three, level.w1, rerun, (name, timing) =>
            fanoutWindow(stage, name, { ...flow, ...timing, inFlight: profile.inFlight }),
            (name, w) => say(`W1 ${result.sockets} ${name}: ${fmt(w.deliveriesPerSecond)} deliveries/s, ${w.serverMicrosPerDelivery.toFixed(1)} µs server CPU each${describe(w)}`),
          );
        }
        if (level.w2) {
          result.latency = await rounds(profile, three, level.w2, rerun, (name, timing) =>
            latencyWindow(stage, name, { ...flow, ...timing, logsPerSecond: profile.latencyLogsPerSecond, batchSize: profile.latencyBatch }),
            (name, w) => say(`W2 ${result.sockets} ${name}: p50 ${w.p50.toFixed(2)} ms, p99 ${w.p99.toFixed(2)} ms, p99.9 ${w.p999.toFixed(2)} ms${describe(w)}`),
          );
        }
        if (profile.smallBatchLatency && level === profile.levels[0]) {
          result.smallBatchLatency = await rounds(profile, three, profile.smallBatchLatency, rerun, (name, timing) =>
            latencyWindow(stage, name, { ...flow, ...timing, logsPerSecond: profile.latencyLogsPerSecond, batchSize: SMALL_BATCH }),
            (name, w) => say(`W2 small POSTs ${result.sockets} ${name}: p50 ${w.p50.toFixed(2)} ms, p99 ${w.p99.toFixed(2)} ms${describe(w)}`),
          );
        }
        if (level === profile.levels[profile.levels.length - 1]) {
          for (const sockets of memoryGrowth) {
            results.memoryGrowth.push(await growMeasuringMemory(stage, template.users, sockets, perUser, say));
          }
        }
      } finally {
        await stage.stop();
      }
    }

    if (profile.connect) {
      const { count, concurrency } = profile.connect;
      const stage = await Stage.start(ctx, 'connect', three, usersFor(1000));
      try {
        let round = 0;
        results.connect = await rounds(profile, three, undefined, rerun, (name) => connectWindow(stage, name, { count, concurrency, round: round++ }),
          (name, w) => say(`W4 ${name}: ${fmt(w.connectsPerSecond)} connects/s, ${w.serverMicrosPerConnect.toFixed(0)} µs server CPU each${describe(w)}`),
        );
      } finally {
        await stage.stop();
      }
    }

    if (profile.ingest) {
      const specs: Array<{ name: string; kind: TargetKind; options?: { databaseUrl: string }; databasePids?: () => Promise<number[]> }> = [
        { name: 'sqlite', kind: 'livetail' },
      ];
      const postgres = profile.ingest.postgres ? await freshPostgresDatabase(options.postgresUrl) : undefined;
      if (postgres && 'url' in postgres) specs.push({ name: 'postgres', kind: 'livetail', options: { databaseUrl: postgres.url }, databasePids: postgres.backendPids });
      else if (postgres) results.notes.push(`W5 on PostgreSQL not run: ${postgres.unavailable}`);
      try {
        const stage = await Stage.start(ctx, 'ingest', specs, usersFor(1000));
        try {
          if (profile.ingest.fill) {
            for (const entry of stage.entries) {
              const rows = await fillToRetention(entry.databaseUrl!, stage.userIds, LIVETAIL_MAX_LOGS_PER_USER);
              say(`W5 ${entry.name}: filled to retention (${rows.toLocaleString('en')} logs)`);
            }
          }
          const { inFlight } = profile.ingest;
          const timing = { ...profile.ingest, firstWarmupMs: profile.ingest.warmupMs };
          results.ingest = await rounds(profile, specs, timing, rerun, (name, t) => ingestWindow(stage, name, { ...t, inFlight }),
            (name, w) => say(`W5 ${name}: ${fmt(w.logsPerSecond)} logs stored/s, ${w.serverMicrosPerLog.toFixed(1)} µs server CPU each${describe(w)}`),
          );
        } finally {
          await stage.stop();
        }
      } finally {
        if (postgres && 'drop' in postgres) await postgres.drop();
      }
    }

    if (profile.producer) {
      const p = profile.producer;
      const stage = await Stage.start(ctx, 'producer', [{ name: 'livetail', kind: 'livetail' }], usersFor(1000));
      try {
        const producers = [{ name: ONE_PER_ENTRY }, { name: PUBLISHER }];
        const timing = { firstWarmupMs: p.warmupMs, warmupMs: p.warmupMs, windowMs: p.windowMs };
        const throughput = await rounds(profile, producers, timing, rerun,
          async (name, t) => {
            if (name === PUBLISHER) return publisherWindow(stage, 'livetail', t);
            // One POST per entry from the harness (its CPU is the producer's): W5's feeder with batches of 1.
            const w = await ingestWindow(stage, 'livetail', { ...t, inFlight: p.inFlight, batchSize: 1 });
            return { cpu: w.cpu, errors: w.errors, entries: w.logs, entriesPerSecond: w.logsPerSecond, serverMicrosPerEntry: w.serverMicrosPerLog, appMicrosPerEntry: (w.cpu.harness * w.cpu.seconds * 1e6) / w.logs, meanBatch: 1 };
          },
          (name, w) => say(`W6 ${name}: ${fmt(w.entriesPerSecond)} entries/s, ${w.serverMicrosPerEntry.toFixed(1)} µs server CPU and ${w.appMicrosPerEntry.toFixed(1)} µs producer CPU each${describe(w)}`),
        );
        const latency = await rounds(profile, producers, timing, rerun,
          (name, t) => (name === PUBLISHER ? publisherLatencyWindow : directLatencyWindow)(stage, 'livetail', { ...t, entriesPerSecond: p.entriesPerSecond }),
          (name, w) => say(`W6 ${name} at ${fmt(p.entriesPerSecond)} entries/s: p50 ${w.p50.toFixed(2)} ms, p99 ${w.p99.toFixed(2)} ms${describe(w)}`),
        );
        results.producer = { throughput, latency, inFlight: p.inFlight, entriesPerSecond: p.entriesPerSecond };
      } finally {
        await stage.stop();
      }
    }

    if (profile.adapter) {
      results.adapter = await measureAdapterCost(profile.adapter);
      if ('unavailable' in results.adapter) say(`W7 not measured: ${results.adapter.unavailable}`);
      else for (const [kind, c] of Object.entries(results.adapter.kinds)) say(`W7 ${kind}: ${c.without.toFixed(0)} µs app CPU per command, ${c.with.toFixed(0)} with the adapter, ${c.withFetchRows.toFixed(0)} following FETCH rows; ${c.replayed.toFixed(1)} µs for the adapter's code alone`);
    }

    if (profile.deflate) {
      const deflate = profile.deflate;
      const specs = TARGETS.map((kind) => ({ name: kind, kind, options: { deflate: true } }));
      const users = usersFor(deflate.sockets);
      const stage = await Stage.start(ctx, 'deflate', specs, users);
      try {
        const idle: Record<string, MemoryWithEmpty> = {};
        for (const { name } of specs) idle[name] = await openMeasuringMemory(stage, name, profile.socketsPerUser);
        const fanout = await rounds({ ...profile, rounds: 1 }, specs, deflate, rerun, (name, timing) =>
          fanoutWindow(stage, name, { socketsPerUser: profile.socketsPerUser, ...timing, inFlight: profile.inFlight }),
          (name, w) => say(`W1 deflate ${name}: ${fmt(w.deliveriesPerSecond)} deliveries/s, ${w.serverMicrosPerDelivery.toFixed(1)} µs server CPU each${describe(w)}`),
        );
        const active: Record<string, PerSocketMemory> = {};
        for (const { name } of specs) {
          const { empty, sockets } = idle[name]!;
          const loaded = await stage.entry(name).target.memory();
          active[name] = { sockets, rss: (loaded.rss - empty.rss) / sockets, heap: (loaded.objects - empty.objects) / sockets };
        }
        results.deflate = { fanout, idle: strip(idle), active };
      } finally {
        await stage.stop();
      }
    }
  } finally {
    clearTimeout(hardLimit);
    await pool?.stop();
    killAll();
    fs.rmSync(workDir, { recursive: true, force: true });
    results.seconds = (performance.now() - started) / 1000;
  }
  return results;
}

/** Logs per POST of the small-batch W2 row. */
const SMALL_BATCH = 10;

/** Per-socket memory, and the server's memory before its first socket. */
type MemoryWithEmpty = PerSocketMemory & { empty: MemoryReading };

/**
 * W3: opens the stage's sockets to one target in two steps and reads the server's memory between and
 * after: the first tenth (at least one user's) warms every lazy path, the growth over the rest is what
 * a socket costs.
 */
async function openMeasuringMemory(stage: Stage, name: string, perUser: number): Promise<MemoryWithEmpty> {
  const { target } = stage.entry(name);
  const empty = await target.memory();
  const warmUsers = Math.max(1, Math.floor(stage.users.length / 10));
  await stage.open(name, stage.sockets(perUser, 0, warmUsers), 100);
  const before = await target.memory();
  const rest = stage.sockets(perUser, warmUsers);
  await stage.open(name, rest, 100);
  const after = await target.memory();
  const sockets = stage.users.length * perUser;
  if (rest.length === 0) return { sockets, rss: Number.NaN, heap: Number.NaN, empty };
  return { sockets, rss: (after.rss - before.rss) / rest.length, heap: (after.objects - before.objects) / rest.length, empty };
}

/**
 * W3 at a larger point without starting over: each target of the (last level's) stage in turn gets idle
 * sockets of more users up to `sockets`, through two extra client workers (the run's own hold the stage's
 * sockets; one process may open only so many files), and the growth per added socket is read. The stage
 * ran W1/W2 before, so its RSS may reuse freed memory; the heap figure is the comparable one.
 */
async function growMeasuringMemory(stage: Stage, all: BenchUser[], sockets: number, perUser: number, say: (line: string) => void) {
  const extra = all.slice(stage.users.length, Math.ceil(sockets / perUser));
  const specs = Array.from({ length: perUser }, () => extra).flat();
  const memory: Record<string, PerSocketMemory> = {};
  const pool = await ClientPool.start(2);
  try {
    for (const { name, target } of stage.entries) {
      await settle(target.pid);
      const before = await target.memory();
      await stage.open(name, specs, 100, '#grow', pool);
      const after = await target.memory();
      memory[name] = { sockets: stage.users.length * perUser + specs.length, rss: (after.rss - before.rss) / specs.length, heap: (after.objects - before.objects) / specs.length };
      say(`W3 ${name}: grown to ${memory[name]!.sockets} sockets, ${describeMemory(memory[name]!)} over the added ones`);
      await stage.closeSockets(name, '#grow', true);
    }
  } finally {
    await pool.stop();
  }
  return { sockets: stage.users.length * perUser + specs.length, memory };
}

/**
 * Interleaves the targets over the profile's rounds (A B C, B C A, C A B, ...) so drift on the machine
 * falls on every target alike.
 */
async function rounds<T extends WindowResult>(
  profile: Profile,
  targets: Array<{ name: string }>,
  timing: FlowTiming | undefined,
  rerun: Reruns,
  measure: (name: string, timing: { warmupMs: number; windowMs: number }) => Promise<T>,
  report: (name: string, window: Measured<T>) => void,
): Promise<Series<T>> {
  const series: Series<T> = {};
  for (let round = 0; round < profile.rounds; round++) {
    for (let i = 0; i < targets.length; i++) {
      const { name } = targets[(i + round) % targets.length]!;
      const warmupMs = timing ? (round === 0 ? timing.firstWarmupMs : timing.warmupMs) : 0;
      const window = await rerun.measure(() => measure(name, { warmupMs, windowMs: timing?.windowMs ?? 0 }));
      (series[name] ??= []).push(window);
      report(name, window);
    }
  }
  return series;
}

/** Runs a window again while other processes disturbed it, within the profile's limits. */
class Reruns {
  constructor(
    private readonly profile: Profile,
    private readonly started: number,
    private readonly say: (line: string) => void,
  ) {}

  async measure<T extends WindowResult>(run: () => Promise<T>): Promise<Measured<T>> {
    let best: T | undefined;
    let reruns = 0;
    for (;;) {
      const window = await run();
      if (!best || window.cpu.other < best.cpu.other) best = window;
      const calm = window.cpu.other <= this.profile.maxOtherCores;
      const timeLeft = performance.now() - this.started < this.profile.rerunDeadlineMs;
      if (calm || reruns >= this.profile.maxReruns || !timeLeft) break;
      reruns++;
      this.say(`  other processes used ${(window.cpu.other * 100).toFixed(0)} % of a core: running the window again`);
    }
    return { ...best, reruns, disturbed: best.cpu.other > this.profile.maxOtherCores };
  }
}

function machineFacts(): MachineFacts {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const openFiles = /^Max open files\s+(\d+)/m.exec(limits);
  const cpus = os.cpus();
  return {
    cpus: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    openFilesLimit: openFiles ? Number(openFiles[1]) : 1024,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

const strip1 = ({ sockets, rss, heap }: PerSocketMemory): PerSocketMemory => ({ sockets, rss, heap });
const strip = (all: Record<string, PerSocketMemory>) => Object.fromEntries(Object.entries(all).map(([k, v]) => [k, strip1(v)]));

const fmt = (n: number) => Math.round(n).toLocaleString('en');

function describe(w: Measured<WindowResult>): string {
  const clients = w.cpu.clients.map((c) => `${(c * 100).toFixed(0)}%`).join('+');
  const flags = [w.disturbed ? 'DISTURBED' : '', w.reruns ? `${w.reruns} rerun` : '', ...w.errors].filter(Boolean).join(', ');
  return ` [server ${(w.cpu.server * 100).toFixed(0)}%, clients ${clients}, harness ${(w.cpu.harness * 100).toFixed(0)}%, other ${(w.cpu.other * 100).toFixed(0)}%${flags ? `; ${flags}` : ''}]`;
}

function describeMemory(m: PerSocketMemory): string {
  return `${fmt(m.rss)} B RSS and ${fmt(m.heap)} B heap per socket`;
}
