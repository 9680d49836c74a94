import type { FlowTiming, Profile } from './profiles.js';
import type { Measured, PerSocketMemory, Series } from './results.js';
import type { WindowResult } from './windows.js';

/** A progress line, with the run's elapsed time in front (stderr in the CLI). */
export type Say = (line: string) => void;

/**
 * Interleaves the targets over the profile's rounds (A B C, B C A, C A B, ...) so drift on the machine
 * falls on every target alike.
 */
export async function rounds<T extends WindowResult>(
  profile: Pick<Profile, 'rounds'>,
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
export class Reruns {
  constructor(
    private readonly profile: Profile,
    private readonly started: number,
    private readonly say: Say,
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

export const fmt = (n: number) => Math.round(n).toLocaleString('en');

/** Where the CPU went in a window, and what was wrong with it: the tail of every progress line. */
export function describe(w: Measured<WindowResult>): string {
  const clients = w.cpu.clients.map((c) => `${(c * 100).toFixed(0)}%`).join('+');
  const flags = [w.disturbed ? 'DISTURBED' : '', w.reruns ? `${w.reruns} rerun` : '', ...w.errors].filter(Boolean).join(', ');
  return ` [server ${(w.cpu.server * 100).toFixed(0)}%, clients ${clients}, harness ${(w.cpu.harness * 100).toFixed(0)}%, other ${(w.cpu.other * 100).toFixed(0)}%${flags ? `; ${flags}` : ''}]`;
}

export function describeMemory(m: PerSocketMemory): string {
  return `${fmt(m.rss)} B RSS and ${fmt(m.heap)} B heap per socket`;
}
