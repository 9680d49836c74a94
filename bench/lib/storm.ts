import BetterSqlite3 from 'better-sqlite3';
import { type StormCounts, type StormKind, monotonicMicros } from '../load/messages.js';
import { CpuMeter } from './cpu-meter.js';
import { fillToRetention } from './fill-store.js';
import type { Profile } from './profiles.js';
import type { Results } from './results.js';
import { type Reruns, type Say, describe } from './rounds.js';
import { type RunContext, Stage } from './stage.js';
import { percentiles } from './stats.js';
import type { BenchUser } from './users.js';
import { Feeder, type WindowResult, settle } from './windows.js';

/** One kill and restart of a target with its clients connected: how long until every client was back. */
export interface StormWindow extends WindowResult {
  clients: number;
  resumed: number;
  /** From the kill to the restarted server answering /healthz. */
  restartMs: number;
  /** From the kill to the last client resumed (livetail: its initial-logs after the restart): the storm's figure. */
  allResumedMs: number;
  /** The same from the restarted server's first /healthz answer: the storm itself, without the process start. */
  afterReadyMs: number;
  /** Resume times from the kill, over the clients. */
  p50Ms: number;
  p99Ms: number;
  /** Connect attempts per client from the loss to its resume: how hard the clients knocked while the server was away. */
  meanAttempts: number;
  maxAttempts: number;
  /** Logs the producer had acknowledged (201) before the kill, and POSTs that failed at the kill. */
  acked: number;
  failedPosts: number;
  /** livetail: logs the store holds for the storm's users, and every client's deliveries counted against them. */
  stored?: number;
  counts?: StormCounts;
}

const STORM_SET = '#storm';

/**
 * The reconnect storm: `clients` clients of livetail's SDK connected (users with stored logs, so each
 * resume reads the store), a producer posting, then the node killed with -9 and restarted on the same
 * data and port; then the same with bare ws clients (the SDK's backoff) and a bare ws server. Each
 * target's clients are opened, stormed `rounds` times, and closed, before the next target's.
 */
export async function runStorm(ctx: RunContext, profile: Profile, users: BenchUser[], rerun: Reruns, say: Say): Promise<NonNullable<Results['storm']>> {
  const o = profile.storm!;
  const perUser = profile.socketsPerUser;
  const specs: Array<{ name: StormKind; kind: StormKind }> = [
    { name: 'livetail', kind: 'livetail' },
    { name: 'bare-ws', kind: 'bare-ws' },
  ];
  const stage = await Stage.start(ctx, 'storm', specs, users);
  const series: NonNullable<Results['storm']>['series'] = {};
  try {
    const livetail = stage.entry('livetail');
    const filled = await fillToRetention(livetail.databaseUrl!, stage.userIds, o.storedLogs);
    say(`storm: ${filled.toLocaleString('en')} logs stored for ${stage.users.length} users`);
    const sockets = stage.sockets(perUser).slice(0, o.clients);
    for (const { name, kind } of specs) {
      const { target } = stage.entry(name);
      const set = stage.setName(name, STORM_SET);
      const opened = await stage.pool.stormOpen(set, kind, target.url, target.origin, sockets, 50);
      if (opened.failed > 0) throw new Error(`storm ${name}: ${opened.failed} of ${sockets.length} clients did not connect (${opened.firstError})`);
      say(`storm ${name}: ${opened.opened.toLocaleString('en')} clients connected in ${(opened.ms / 1000).toFixed(1)} s`);
      try {
        for (let round = 0; round < o.rounds; round++) {
          const window = await rerun.measure(() => stormWindow(stage, name, o));
          (series[name] ??= []).push(window);
          say(
            `storm ${name}: ${window.resumed.toLocaleString('en')} of ${window.clients.toLocaleString('en')} resumed ${window.allResumedMs.toFixed(0)} ms after the kill ` +
              `(restart ${window.restartMs.toFixed(0)} ms, p50 ${window.p50Ms.toFixed(0)} ms, ${window.meanAttempts.toFixed(1)} attempts each)` +
              (window.counts ? `; ${window.counts.lost} lost, ${window.counts.doubled} doubled, ${window.counts.outOfOrder} out of order, ${window.counts.notStored} not stored of ${window.stored} stored` : '') +
              describe(window),
          );
        }
      } finally {
        await stage.pool.stormClose(set);
      }
    }
  } finally {
    await stage.stop();
  }
  return { clients: Math.min(o.clients, users.length * perUser), users: users.length, storedLogs: o.storedLogs, logsPerSecond: o.logsPerSecond, batchSize: o.batchSize, produceMs: o.produceMs, series };
}

async function stormWindow(stage: Stage, name: string, o: NonNullable<Profile['storm']>): Promise<StormWindow> {
  const entry = stage.entry(name);
  const set = stage.setName(name, STORM_SET);
  await settle(entry.target.pid);
  const clients = await stage.pool.stormArm(set);
  // Nobody waits for these logs' deliveries here (0 per batch): the clients' counts are checked at the end.
  const producer = new Feeder(stage, name, o.batchSize, 0, { intervalMs: (1000 * o.batchSize) / o.logsPerSecond });
  await producer.start();
  await new Promise((resolve) => setTimeout(resolve, o.produceMs));

  const roles = await stage.roles(name);
  const meter = new CpuMeter(roles);
  meter.begin();
  const killedAt = monotonicMicros();
  const producing = producer.stop(); // no new POSTs; those in flight meet the kill
  await entry.target.kill();
  entry.target = await entry.target.restart();
  const readyAt = monotonicMicros();
  roles.server = entry.target.pid; // the meter reads the restarted process at the end (its whole life so far)
  const resumes = await stage.pool.stormWait(set, o.timeoutMs);
  const cpu = meter.end();
  await producing;

  const errors: string[] = [];
  if (resumes.resumed < clients) errors.push(`${clients - resumes.resumed} clients not resumed after ${o.timeoutMs} ms`);
  const fromKill = Float64Array.from(resumes.resumedAt, (at) => (at - killedAt) / 1000);
  const [p50Ms, p99Ms] = percentiles(fromKill, [50, 99]) as [number, number];
  const lastAt = resumes.resumedAt.reduce((m, at) => Math.max(m, at), 0);
  const window: StormWindow = {
    cpu,
    errors,
    clients,
    resumed: resumes.resumed,
    restartMs: (readyAt - killedAt) / 1000,
    allResumedMs: resumes.resumed === clients ? (lastAt - killedAt) / 1000 : Number.NaN,
    afterReadyMs: resumes.resumed === clients ? (lastAt - readyAt) / 1000 : Number.NaN,
    p50Ms,
    p99Ms,
    meanAttempts: resumes.attempts.reduce((s, n) => s + n, 0) / Math.max(1, resumes.attempts.length),
    maxAttempts: resumes.attempts.reduce((m, n) => Math.max(m, n), 0),
    acked: producer.acked,
    failedPosts: producer.failed,
  };
  if (entry.kind !== 'livetail') return window;

  // Every client against what the store holds for its user now: each stored log delivered once, in order.
  const expected = storedIds(entry.databaseUrl!, stage.userIds);
  const counts = await stage.pool.stormVerify(set, expected);
  const stored = Object.values(expected).reduce((s, ids) => s + ids.length, 0);
  if (counts.lost + counts.doubled + counts.notStored + counts.outOfOrder > 0) errors.push(`deliveries do not match the store: ${counts.firstProblem}`);
  return { ...window, stored, counts };
}

/** The ids of each user's stored logs, oldest first, read from livetail's SQLite file beside it. */
function storedIds(databaseUrl: string, userIds: string[]): Record<string, string[]> {
  if (!databaseUrl.startsWith('file:')) throw new Error('the storm checks deliveries against a SQLite store');
  const db = new BetterSqlite3(databaseUrl.slice('file:'.length), { readonly: true, fileMustExist: true });
  try {
    const read = db.prepare('select id from livetail_log where user_id = ? order by seq').pluck();
    return Object.fromEntries(userIds.map((userId) => [userId, read.all(userId) as string[]]));
  } finally {
    db.close();
  }
}
