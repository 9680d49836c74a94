import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TargetKind } from '../load/messages.js';
import { ROOT, TYPESCRIPT_LOADER, forkChild, stopChild, waitFor } from './children.js';

/** The servers every socket workload compares. */
export const TARGETS: readonly TargetKind[] = ['livetail', 'bare-ws', 'socket.io'];

/** The baselines' files in bench/targets/. */
const BASELINE_FILES: Record<Exclude<TargetKind, 'livetail'>, string> = { 'bare-ws': 'bare-ws.ts', 'socket.io': 'socket-io.ts', 'bare-express': 'bare-express.ts' };

/** Secrets of the benchmark's own throwaway servers (loopback only, temp databases). */
export const BENCH_SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
export const BENCH_INGEST_TOKEN = 'bench-ingest-token-0123456789abcdef';

/** livetail's retention (MAX_LOGS_PER_USER): left at its default, as users run it. */
export const LIVETAIL_MAX_LOGS_PER_USER = 1000;

/** How many logs livetail's initial-logs carries (INITIAL_LOGS): left at its default. */
export const LIVETAIL_INITIAL_LOGS = 100;

/** A server's memory after two full GCs, as the probe reports it. */
export interface MemoryReading {
  rss: number;
  heapUsed: number;
  /** heapUsed without compiled code: the JavaScript objects. */
  objects: number;
  external: number;
}

export interface TargetOptions {
  /** A fresh directory of this target's own (its log, livetail's SQLite file). */
  dir: string;
  /** livetail only: `file:...` or `postgres://...`; defaults to a SQLite file in `dir`. */
  databaseUrl?: string;
  /** Accept permessage-deflate (every target's option of the same name). */
  deflate?: boolean;
  /** livetail only: write a V8 CPU profile (node --cpu-prof) into this directory when it exits. */
  cpuProfDir?: string;
  /**
   * livetail only; production (as deployed) by default. The sign-up server runs in development, where
   * better-auth does not rate-limit sign-ups (3 per 10 s per address in production).
   */
  nodeEnv?: 'production' | 'development';
  /** Extra Node flags for the target (e.g. --perf-basic-prof for `perf record`). */
  nodeArgs?: string[];
  /** livetail only: another build's main.js (an A/B comparison of two builds); dist/main.js by default. */
  mainFile?: string;
  /** Extra environment variables (e.g. a livetail setting to compare). */
  env?: Record<string, string>;
  /** Listen on this port (a restart on the same address); a free one by default. */
  port?: number;
  /** Files (sockets) the target must be able to open; the hard limit applies by default (see open-files.ts). */
  openFiles?: number;
}

/** A running target server in its own process. */
export class Target {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: MemoryReading) => void>();

  private constructor(
    readonly kind: TargetKind,
    readonly child: ChildProcess,
    readonly url: string,
    readonly logFile: string,
    /** What it was started with, its port included: `restart` starts the same again. */
    readonly options: TargetOptions & { port: number },
  ) {
    child.on('message', (m: { type?: string; id: number } & MemoryReading) => {
      if (m.type !== 'bench:memory') return;
      this.waiting.get(m.id)?.({ rss: m.rss, heapUsed: m.heapUsed, objects: m.objects, external: m.external });
      this.waiting.delete(m.id);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The Origin browsers would send: livetail checks it, the baselines ignore it. */
  get origin(): string {
    return this.url;
  }

  static async start(kind: TargetKind, options: TargetOptions, pollMs = 100): Promise<Target> {
    fs.mkdirSync(options.dir, { recursive: true });
    const port = options.port ?? (await freePort());
    const url = `http://127.0.0.1:${port}`;
    const logFile = path.join(options.dir, `${kind}.log`);
    const log = fs.openSync(logFile, 'a');
    const probe = ['--expose-gc', '--import', path.join(ROOT, 'bench', 'targets', 'probe.mjs')];
    const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? options.dir, PORT: String(port), PERMESSAGE_DEFLATE: String(options.deflate ?? false) };
    let child: ChildProcess;
    if (kind === 'livetail') {
      const profile = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
      child = forkChild(options.mainFile ?? process.env.LIVETAIL_BENCH_MAIN ?? path.join(ROOT, 'dist', 'main.js'), {
        execArgv: [...probe, ...profile, ...(options.nodeArgs ?? [])],
        env: { ...base, ...livetailEnv(url, options), ...options.env },
        stdio: ['ignore', log, log, 'ipc'],
        openFiles: options.openFiles,
      });
    } else {
      child = forkChild(path.join(ROOT, 'bench', 'targets', BASELINE_FILES[kind]), {
        execArgv: [...probe, ...(options.nodeArgs ?? []), ...TYPESCRIPT_LOADER],
        env: { ...base, ...options.env },
        stdio: ['ignore', log, log, 'ipc'],
        openFiles: options.openFiles,
      });
    }
    fs.closeSync(log);
    const target = new Target(kind, child, url, logFile, { ...options, port });
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`${kind} exited with code ${child.exitCode}`);
          return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
        },
        60_000,
        `${kind} to answer /healthz`,
        pollMs,
      );
    } catch (error) {
      await target.stop();
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`${(error as Error).message}\n--- ${logFile} ---\n${tail}`);
    }
    return target;
  }

  /** Asks the probe in the target for its memory after a full GC. */
  memory(timeoutMs = 30_000): Promise<MemoryReading> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.kind} did not report its memory`)), timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.child.send({ type: 'bench:memory', id });
    });
  }

  /** SIGTERM (livetail shuts down gracefully and writes its CPU profile), SIGKILL after 10 s. */
  stop(): Promise<void> {
    return stopChild(this.child, 10_000);
  }

  /** kill -9: no shutdown at all, as a crash or an OOM kill. Resolves when the process is gone. */
  kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }

  /** The same target again, on the same port and data (its directory, its database); resolves once it answers /healthz. */
  restart(pollMs = 10): Promise<Target> {
    return Target.start(this.kind, this.options, pollMs);
  }
}

/** livetail as users run it, with limits raised so the benchmark never trips one. */
function livetailEnv(url: string, options: TargetOptions): Record<string, string> {
  return {
    NODE_ENV: options.nodeEnv ?? 'production',
    HOST: '127.0.0.1',
    BASE_URL: url,
    DATABASE_URL: livetailDatabaseUrl(options),
    DATA_DIR: options.dir,
    BETTER_AUTH_SECRET: BENCH_SECRET,
    INGEST_TOKEN: BENCH_INGEST_TOKEN,
    UPGRADE_RATE_LIMIT: '1000000',
    UPGRADE_RATE_WINDOW_MS: '1000',
    MAX_SOCKETS_PER_USER: '100000',
    MAX_CONNECTIONS_PER_ADDRESS: '0', // every simulated client connects from 127.0.0.1
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
    MAX_BUFFERED_BYTES: String(256 * 1024 * 1024),
    MAX_LOGS_PER_USER: String(LIVETAIL_MAX_LOGS_PER_USER),
  };
}

/** The DATABASE_URL livetail gets: the one asked for, else a SQLite file in the target's directory. */
export function livetailDatabaseUrl(options: Pick<TargetOptions, 'dir' | 'databaseUrl'>): string {
  return options.databaseUrl ?? `file:${path.join(options.dir, 'livetail.db')}`;
}

/** A TCP port nobody listens on right now (the target binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
