import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureAdapterCost } from './adapter-cost.js';
import { ClientPool } from './client-pool.js';
import { killAll } from './children.js';
import { fillToRetention } from './fill-store.js';
import { measureIdleScale } from './idle-scale.js';
import { measureIngest } from './ingest.js';
import { openFilesLimits } from './open-files.js';
import { measurePerRequest } from './per-request.js';
import type { Profile } from './profiles.js';
import { directLatencyWindow, publisherLatencyWindow, publisherWindow } from './producer-windows.js';
import { BARE_WS_INITIAL_LOGS, type LevelResult, type MachineFacts, ONE_PER_ENTRY, PUBLISHER, type PerSocketMemory, type Results } from './results.js';
import { Reruns, describe, describeMemory, fmt, rounds } from './rounds.js';
import { type RunContext, Stage } from './stage.js';
import { runStorm } from './storm.js';
import { LIVETAIL_INITIAL_LOGS, TARGETS } from './targets.js';
import { prepareUsers } from './users.js';
import { type MemoryWithEmpty, openMeasuringMemory, perSocket } from './w3-memory.js';
import { connectWindow, fanoutWindow, ingestWindow, latencyWindow } from './windows.js';

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
    kinds: { livetail: 'livetail', 'bare-ws': 'bare-ws', 'socket.io': 'socket.io', 'bare-express': 'bare-express', sqlite: 'livetail', postgres: 'livetail' },
    levels: [],
    notes: [],
  };

  let pool: ClientPool | undefined;
  try {
    // The per-request, W4, W5 and W6 stages take the users of 1,000 sockets.
    const fixedStages = profile.perRequest || profile.connect || profile.ingest || profile.producer ? 1000 : 0;
    const maxSockets = Math.max(fixedStages, ...profile.levels.map((l) => l.sockets), profile.idleScale?.sockets ?? 0, profile.storm?.clients ?? 0, profile.deflate?.sockets ?? 0);
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
          result.memory[name] = perSocket(await openMeasuringMemory(stage, name, perUser));
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
            (name, w) => say(`W2 small POSTs ${result.sockets} ${name}: p50 ${w.p50.toFixed(2)} ms, p99 ${w.p99.toFixed(2)} ms, ${w.serverMicrosPerDelivery.toFixed(1)} µs server CPU per delivery${describe(w)}`),
          );
        }
      } finally {
        await stage.stop();
      }
    }

    if (profile.idleScale) {
      results.idleScale = await measureIdleScale(ctx, profile, template.users, say);
      if (results.idleScale.capped) results.notes.push(results.idleScale.capped);
    }

    if (profile.perRequest) results.perRequest = await measurePerRequest(ctx, profile, usersFor(1000), rerun, say);

    if (profile.connect) {
      const { count, concurrency, storedLogs } = profile.connect;
      // Beside the three: bare ws writing each new socket a message of livetail's initial-logs size, so the
      // report can tell the cost of those bytes from the rest of livetail's connect.
      const specs = [...three, { name: BARE_WS_INITIAL_LOGS, kind: 'bare-ws' as const, options: { env: { BARE_WS_INITIAL_LOGS: String(Math.min(storedLogs, LIVETAIL_INITIAL_LOGS)) } } }];
      const stage = await Stage.start(ctx, 'connect', specs, usersFor(1000));
      try {
        // Every user has history: each connect's initial-logs is the newest INITIAL_LOGS read from the store.
        const rows = await fillToRetention(stage.entry('livetail').databaseUrl!, stage.userIds, storedLogs);
        say(`W4: ${rows.toLocaleString('en')} logs stored for ${stage.users.length} users`);
        results.connectStoredLogs = storedLogs;
        let round = 0;
        // One unmeasured window per target first: a cold server (code not yet optimized, every path's
        // first allocations) connects at a third to a half of its warm rate, and the median of the
        // rounds would carry that. livetail's users have then joined once: their first join read the store.
        for (const { name } of specs) await connectWindow(stage, name, { count, concurrency, round: round++ });
        results.connect = await rounds(profile, specs, undefined, rerun, (name) => connectWindow(stage, name, { count, concurrency, round: round++ }),
          (name, w) => say(`W4 ${name}: ${fmt(w.connectsPerSecond)} connects/s, ${w.serverMicrosPerConnect.toFixed(0)} µs server CPU each${describe(w)}`),
        );
      } finally {
        await stage.stop();
      }
    }

    if (profile.ingest) results.ingest = await measureIngest(ctx, profile, usersFor(1000), rerun, say, results.notes, options.postgresUrl);

    if (profile.storm) results.storm = await runStorm(ctx, profile, usersFor(profile.storm.clients), rerun, say);

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

function machineFacts(): MachineFacts {
  const openFiles = openFilesLimits();
  const cpus = os.cpus();
  return {
    cpus: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    openFilesLimit: openFiles.soft,
    openFilesHardLimit: openFiles.hard,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

const strip = (all: Record<string, PerSocketMemory>) => Object.fromEntries(Object.entries(all).map(([k, v]) => [k, perSocket(v)]));
