import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { ENV_VARIABLES } from '../../src/config.js';
import { INGEST_TOKEN, SECRET, TEST_ORIGIN } from './server.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * How to run the server as a process: `node dist/main.js` (what `npm start` runs; `npm test` builds it
 * first), or the sources through tsx when dist is older than src, so running one test file after an
 * edit never tests stale code.
 */
function serverCommand(): string[] {
  const built = path.join(ROOT, 'dist', 'main.js');
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newestMtime(path.join(ROOT, 'src'))) return [built];
  return ['--import', 'tsx', path.join(ROOT, 'src', 'main.ts')];
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** The environment of a spawned server: none of livetail's variables from the caller, a fresh data dir. */
export function processEnv(dir: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ENV_VARIABLES) delete base[name];
  return {
    ...base,
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `file:${path.join(dir, 'livetail.db')}`,
    DATA_DIR: dir,
    BETTER_AUTH_SECRET: SECRET,
    BASE_URL: TEST_ORIGIN,
    INGEST_TOKEN,
    ...env,
  };
}

/** A fresh data directory for a spawned server, removed when the current test finishes. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-proc-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * How long to wait for a line such as 'listening'. A start takes about a second of CPU; on a machine
 * shared with other test runs it has taken over 15 s, and waiting longer only costs time when it fails.
 */
const STARTUP_WAIT_MS = 60_000;

/** Per-test timeout for files that spawn servers (a few starts each). */
export const PROCESS_TEST_TIMEOUT_MS = 180_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from spawn to exit. */
  afterMs: number;
}

/**
 * A livetail process: its output split into lines as it comes, awaitable lines and exit.
 * Every process is killed (SIGKILL) by `kill()` if still running: call it in afterEach.
 */
export class LivetailProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<Exit>;
  private readonly started = Date.now();
  private waiters: Array<() => void> = [];
  private exit: Exit | undefined;

  private constructor(
    readonly child: ChildProcess,
    /** The child leads a process group of its own (npm and the server it runs): kill() ends the group. */
    private readonly group = false,
  ) {
    collectLines(child.stdout!, this.stdout, () => this.wake());
    collectLines(child.stderr!, this.stderr, () => this.wake());
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, afterMs: Date.now() - this.started };
        // Output may still be in the pipes: wait for both streams to end before reporting the exit.
        let open = 2;
        const done = () => {
          if (--open === 0) {
            resolve(this.exit!);
            this.wake();
          }
        };
        if (child.stdout!.readableEnded) done();
        else child.stdout!.once('end', done);
        if (child.stderr!.readableEnded) done();
        else child.stderr!.once('end', done);
      });
    });
  }

  /** Spawns `node <server> ` with `env` (see processEnv). */
  static start(env: NodeJS.ProcessEnv): LivetailProcess {
    return new LivetailProcess(spawn(process.execPath, serverCommand(), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /**
   * Spawns any command (e.g. `npm start`) in the repository root (or `cwd`), in a process group of its
   * own, so that kill() also ends what it started (npm's child) and no orphan keeps the output pipes open.
   */
  static spawn(command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): LivetailProcess {
    return new LivetailProcess(spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }), true);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** stdout's lines parsed as JSON (the server's own log); throws on a line that is not JSON. */
  jsonLines(): Array<Record<string, any>> {
    return this.stdout.map((line) => {
      try {
        return JSON.parse(line) as Record<string, any>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
  }

  /** The first JSON log line matching `predicate`, waiting for it at most `timeoutMs`. */
  async logLine(predicate: (line: Record<string, any>) => boolean, timeoutMs = STARTUP_WAIT_MS): Promise<Record<string, any>> {
    const match = () => {
      for (const line of this.stdout) {
        try {
          const parsed = JSON.parse(line) as Record<string, any>;
          if (predicate(parsed)) return parsed;
        } catch {}
      }
      return undefined;
    };
    return this.waitFor(match, timeoutMs, 'a matching log line');
  }

  /** The first stdout line (JSON or not) matching `pattern`. */
  async textLine(pattern: RegExp, timeoutMs = STARTUP_WAIT_MS): Promise<string> {
    return this.waitFor(() => this.stdout.find((line) => pattern.test(line)), timeoutMs, `a line matching ${pattern}`);
  }

  /** Waits for the 'listening' line and returns the base URL. */
  async listening(timeoutMs = STARTUP_WAIT_MS): Promise<string> {
    const line = await this.logLine((l) => l.event === 'listening', timeoutMs);
    return `http://127.0.0.1:${line.port}`;
  }

  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  /** SIGKILL if still running (cleanup); for a group, every process left in it. */
  async kill(): Promise<void> {
    if (this.group) {
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {} // the group is already empty
    } else if (this.exit === undefined && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }

  private waitFor<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = find();
        if (found !== undefined) {
          finish();
          resolve(found);
          return true;
        }
        if (this.exit !== undefined && this.child.stdout!.readableEnded) {
          finish();
          reject(new Error(`process exited (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr.join('\n')}; stdout: ${this.stdout.slice(-5).join('\n')}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stdout: ${this.stdout.slice(-5).join('\n')}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      const waiter = () => void check();
      if (!check()) this.waiters.push(waiter);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function collectLines(stream: NodeJS.ReadableStream, into: string[], onLine: () => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const part of parts) into.push(part);
    if (parts.length > 0) onLine();
  });
  stream.on('end', () => {
    if (rest) into.push(rest);
    rest = '';
    onLine();
  });
}
