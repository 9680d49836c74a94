import type { ClientPool } from './client-pool.js';
import type { PerSocketMemory } from './results.js';
import type { Stage } from './stage.js';
import type { MemoryReading } from './targets.js';

/** Per-socket memory, and the server's memory before its first socket. */
export type MemoryWithEmpty = PerSocketMemory & { empty: MemoryReading };

/**
 * W3: opens the stage's sockets to one target in two steps (through `pool`, the run's client workers by
 * default) and reads the server's memory between and after: the first tenth (at least one user's) warms
 * every lazy path, the growth over the rest is what a socket costs.
 */
export async function openMeasuringMemory(stage: Stage, name: string, perUser: number, pool?: ClientPool): Promise<MemoryWithEmpty> {
  const { target } = stage.entry(name);
  const empty = await target.memory();
  const warmUsers = Math.max(1, Math.floor(stage.users.length / 10));
  await stage.open(name, stage.sockets(perUser, 0, warmUsers), 100, '', pool);
  const before = await target.memory();
  const rest = stage.sockets(perUser, warmUsers);
  await stage.open(name, rest, 100, '', pool);
  const after = await target.memory();
  const sockets = stage.users.length * perUser;
  if (rest.length === 0) return { sockets, rss: Number.NaN, heap: Number.NaN, empty };
  return { sockets, rss: (after.rss - before.rss) / rest.length, heap: (after.objects - before.objects) / rest.length, empty };
}

/** The figures kept in the results (without the empty server's reading). */
export const perSocket = ({ sockets, rss, heap }: PerSocketMemory): PerSocketMemory => ({ sockets, rss, heap });
