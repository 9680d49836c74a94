import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/**
 * CPU time read from /proc, in seconds: per process from /proc/<pid>/stat (utime + stime of every
 * thread, so libuv's pool and V8's GC threads count), and for the whole machine from /proc/stat.
 * The harness reads both at the start and the end of a measurement window.
 */

const CLOCK_TICKS_PER_SECOND = clockTicks();

function clockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** CPU seconds a process has used so far; undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: the fields after it start past the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** What the whole machine has spent since boot, in CPU seconds summed over all cores. */
export interface MachineCpu {
  /** user + nice + system: processes (ours and everybody else's) and kernel work done on their behalf. */
  busy: number;
  /** irq + softirq: interrupt work, most of it the loopback network stack here. */
  interrupts: number;
  /** idle + iowait. */
  idle: number;
}

export function machineCpuSeconds(): MachineCpu {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return {
    busy: (user! + nice! + system! + (steal ?? 0)) / CLOCK_TICKS_PER_SECOND,
    interrupts: (irq! + softirq!) / CLOCK_TICKS_PER_SECOND,
    idle: (idle! + iowait!) / CLOCK_TICKS_PER_SECOND,
  };
}
