import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT, TYPESCRIPT_LOADER, forkChild, stopChild } from './children.js';
import { CpuMeter, type Roles } from './cpu-meter.js';
import type { IngestWindow } from './windows.js';
import { settle } from './windows.js';

/** W5's reference target by name, in the results and the report. */
export const RAW_SQLITE = 'raw better-sqlite3';

type Reply = { type: 'ready' } | { type: 'window-start' } | { type: 'done'; logs: number; seconds: number; cpuSeconds: number } | { type: 'failed'; message: string };

/**
 * The harness's side of bench/targets/raw-sqlite.ts: one process storing W5's batches straight through
 * better-sqlite3 into its own copy of the filled database, measured like a target (its CPU from /proc
 * over the window the process reports).
 */
export class RawSqlite {
  private constructor(
    private readonly child: ChildProcess,
    private readonly file: string,
  ) {}

  static async start(file: string): Promise<RawSqlite> {
    const child = forkChild(path.join(ROOT, 'bench', 'targets', 'raw-sqlite.ts'), { execArgv: TYPESCRIPT_LOADER });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the raw better-sqlite3 reference exited (${code})`)));
      child.once('message', (m: Reply) => (m.type === 'ready' ? resolve() : reject(new Error(`unexpected ${m.type}`))));
    });
    return new RawSqlite(child, file);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Batches of `batchSize` for random users of `userIds`, back to back, for warmup + window. */
  async window(roles: Omit<Roles, 'server'>, o: { userIds: string[]; maxLogsPerUser: number; batchSize: number; warmupMs: number; windowMs: number }): Promise<IngestWindow> {
    await settle(this.pid);
    const meter = new CpuMeter({ ...roles, server: this.pid });
    const done = new Promise<{ logs: number; seconds: number }>((resolve, reject) => {
      const onMessage = (m: Reply) => {
        if (m.type === 'window-start') meter.begin();
        else if (m.type === 'done' || m.type === 'failed') {
          this.child.off('message', onMessage);
          if (m.type === 'failed') reject(new Error(`the raw better-sqlite3 reference failed: ${m.message}`));
          else resolve(m);
        }
      };
      this.child.on('message', onMessage);
    });
    this.child.send({ type: 'run', file: this.file, ...o });
    const { logs, seconds } = await done;
    const cpu = meter.end();
    return {
      cpu,
      errors: [],
      logs,
      requests: logs / o.batchSize,
      logsPerSecond: logs / seconds,
      serverMicrosPerLog: (cpu.serverSeconds * 1e6) / logs,
      serverMicrosPerRequest: (cpu.serverSeconds * 1e6 * o.batchSize) / logs,
      withDatabaseMicrosPerLog: (cpu.serverSeconds * 1e6) / logs,
    };
  }

  stop(): Promise<void> {
    return stopChild(this.child, 5000);
  }
}
