import { ClientPool } from './client-pool.js';
import { FILES_BESIDES_SOCKETS, planOpenFiles } from './open-files.js';
import type { Profile } from './profiles.js';
import type { IdleScale } from './results.js';
import { type Say, describeMemory } from './rounds.js';
import { type RunContext, Stage } from './stage.js';
import { TARGETS } from './targets.js';
import type { BenchUser } from './users.js';
import { openMeasuringMemory, perSocket } from './w3-memory.js';

/** Sockets one extra client worker holds at most (under a hard open-files limit of 20,000 with room to spare). */
const SOCKETS_PER_WORKER = 16_000;

/**
 * W3 at scale (50,000 idle authenticated sockets in the full profile) on fresh targets, one target at a
 * time so only one holds its sockets: the first tenth warms every lazy path, the growth over the rest is
 * what a socket costs. The target may open that many files through prlimit where this process may raise
 * the limit; elsewhere it runs with as many as the hard limit allows, and says so. The clients spread
 * over extra client workers (each under its own open-files limit) and, past `perAddress` sockets, over
 * source addresses 127.0.0.1, .2, … taken in turn: one address has ~28,000 ephemeral ports towards one
 * server, and binding to one gets slow from a few thousand on (Linux scans its even ports first).
 * Each target is stopped once measured, so its server closes the connections first and the TIME_WAIT
 * states stay on its side instead of holding the clients' ports for the next target.
 */
export async function measureIdleScale(ctx: RunContext, profile: Profile, allUsers: BenchUser[], say: Say): Promise<IdleScale> {
  const { sockets: requested, perAddress } = profile.idleScale!;
  const perUser = profile.socketsPerUser;
  let sockets = Math.min(requested, allUsers.length * perUser);
  let capped: string | undefined;
  const server = planOpenFiles(sockets + FILES_BESIDES_SOCKETS);
  if (!server.ok) {
    sockets = Math.floor((server.max - FILES_BESIDES_SOCKETS) / perUser) * perUser;
    capped = `W3 at ${requested.toLocaleString('en')} sockets ran with ${sockets.toLocaleString('en')}: ${server.why}. Run it where \`ulimit -Hn\` is at least ${(requested + FILES_BESIDES_SOCKETS).toLocaleString('en')}, or as root with CAP_SYS_RESOURCE.`;
    say(capped);
  }
  const workers = Math.max(2, Math.ceil(sockets / SOCKETS_PER_WORKER));
  const share = Math.ceil(sockets / workers);
  const addresses = Math.ceil(sockets / perAddress);
  const sourceAddresses = addresses > 1 ? Array.from({ length: addresses }, (_, i) => `127.0.0.${1 + i}`) : undefined;
  const users = allUsers.slice(0, sockets / perUser);
  const pool = await ClientPool.start(workers, { openFiles: share + FILES_BESIDES_SOCKETS, sourceAddresses });
  const specs = TARGETS.map((kind) => ({ name: kind, kind, options: { openFiles: sockets + FILES_BESIDES_SOCKETS } }));
  const memory: IdleScale['memory'] = {};
  try {
    const stage = await Stage.start(ctx, `scale-${sockets}`, specs, users);
    try {
      for (const { name } of specs) {
        const opening = performance.now();
        const m = await openMeasuringMemory(stage, name, perUser, pool);
        memory[name] = perSocket(m);
        const seconds = (performance.now() - opening) / 1000;
        say(`W3 ${name}: ${m.sockets.toLocaleString('en')} idle sockets from ${sourceAddresses?.length ?? 1} source address(es) in ${seconds.toFixed(0)} s, ${describeMemory(memory[name]!)}`);
        const stopping = performance.now();
        await stage.entry(name).target.stop();
        await stage.closeSockets(name);
        say(`W3 ${name}: stopped in ${((performance.now() - stopping) / 1000).toFixed(1)} s`);
      }
    } finally {
      await stage.stop();
    }
  } finally {
    await pool.stop();
  }
  return { requested, sockets, capped, memory, clientWorkers: workers, sourceAddresses: sourceAddresses?.length ?? 1 };
}
