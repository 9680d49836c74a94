import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { planOpenFiles } from './open-files.js';

/** The repository root (bench/lib/../..). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Node flags that let a child run the benchmark's own TypeScript files (tsx's loader, resolved from here). */
export const TYPESCRIPT_LOADER = ['--import', import.meta.resolve('tsx')];

const children = new Set<ChildProcess>();

/**
 * Forks a Node child with an IPC channel and remembers it, so that `killAll` (on exit, on Ctrl-C, on a
 * crash) leaves no process behind. Children also end themselves when the channel closes. `openFiles`:
 * the child must be able to open that many files (through prlimit when the hard limit is lower; throws
 * when that is not allowed here: plan with planOpenFiles first).
 */
export function forkChild(
  file: string,
  options: { execArgv: string[]; env?: NodeJS.ProcessEnv; stdio?: Array<'ignore' | 'inherit' | 'pipe' | number | 'ipc'>; openFiles?: number },
): ChildProcess {
  const plan = options.openFiles === undefined ? { ok: true as const } : planOpenFiles(options.openFiles);
  if (!plan.ok) throw new Error(`a process here may not open ${options.openFiles} files: ${plan.why}`);
  // prlimit execs node in place: the child keeps its pid and the IPC channel.
  const wrapper = plan.wrapper ? { execPath: plan.wrapper.execPath, execArgv: [...plan.wrapper.args, process.execPath, ...options.execArgv] } : { execArgv: options.execArgv };
  const child = fork(file, [], {
    cwd: ROOT,
    ...wrapper,
    env: options.env ?? process.env,
    stdio: options.stdio ?? ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Ends a child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Kills, by pid, every child this process started that is still running. */
export function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** Waits for `condition`, polling every `everyMs`, failing with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
