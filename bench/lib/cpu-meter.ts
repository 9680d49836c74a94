import { type MachineCpu, machineCpuSeconds, processCpuSeconds } from './proc-stat.js';

/** The processes of a run, by the part they play in a window. */
export interface Roles {
  /** The target being measured. */
  server: number;
  /** Client worker processes (the sockets). */
  clients: number[];
  /** Targets that idle during this window (they still run heartbeats). */
  idleServers: number[];
  /** Database server processes working for the measured target (PostgreSQL backends), if any. */
  database?: number[];
}

interface Snapshot {
  at: number;
  machine: MachineCpu;
  perPid: Map<number, number>;
}

/**
 * Where the CPU went during one window, in cores (1 = one core busy for the whole window).
 * `other` is everything the machine spent that none of the benchmark's processes did: other people's
 * processes, kernel threads, CPU stolen by the hypervisor. Interrupt work (the loopback stack) is
 * reported apart because it serves the benchmark itself.
 */
export interface CpuUse {
  seconds: number;
  /** CPU seconds the measured server used. */
  serverSeconds: number;
  server: number;
  /** One entry per client worker. */
  clients: number[];
  /** The harness process itself: the HTTP poster and the bookkeeping. */
  harness: number;
  idleServers: number;
  /** The database server's processes (PostgreSQL), counted apart from "other". */
  database: number;
  databaseSeconds: number;
  interrupts: number;
  other: number;
}

/** Reads CPU counters at the start and at the end of a window. */
export class CpuMeter {
  private start: Snapshot | undefined;

  constructor(private readonly roles: Roles) {}

  begin(): void {
    this.start = this.snapshot();
  }

  end(): CpuUse {
    if (!this.start) throw new Error('CpuMeter.end() before begin()');
    const a = this.start;
    const b = this.snapshot();
    const seconds = (b.at - a.at) / 1000;
    const used = (pid: number) => Math.max(0, (b.perPid.get(pid) ?? a.perPid.get(pid) ?? 0) - (a.perPid.get(pid) ?? 0));
    const serverSeconds = used(this.roles.server);
    const clientSeconds = this.roles.clients.map(used);
    const harnessSeconds = used(process.pid);
    const idleSeconds = this.roles.idleServers.reduce((sum, pid) => sum + used(pid), 0);
    const databaseSeconds = (this.roles.database ?? []).reduce((sum, pid) => sum + used(pid), 0);
    const ours = serverSeconds + clientSeconds.reduce((s, x) => s + x, 0) + harnessSeconds + idleSeconds + databaseSeconds;
    const otherSeconds = Math.max(0, b.machine.busy - a.machine.busy - ours);
    return {
      seconds,
      serverSeconds,
      server: serverSeconds / seconds,
      clients: clientSeconds.map((s) => s / seconds),
      harness: harnessSeconds / seconds,
      idleServers: idleSeconds / seconds,
      database: databaseSeconds / seconds,
      databaseSeconds,
      interrupts: (b.machine.interrupts - a.machine.interrupts) / seconds,
      other: otherSeconds / seconds,
    };
  }

  private snapshot(): Snapshot {
    const pids = [this.roles.server, ...this.roles.clients, ...this.roles.idleServers, ...(this.roles.database ?? []), process.pid];
    const perPid = new Map<number, number>();
    for (const pid of pids) {
      const cpu = processCpuSeconds(pid);
      if (cpu !== undefined) perPid.set(pid, cpu);
    }
    return { at: performance.now(), machine: machineCpuSeconds(), perPid };
  }
}
