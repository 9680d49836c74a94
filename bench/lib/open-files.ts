import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/**
 * How many files (sockets) a benchmark process may open. Node raises its own soft limit to the hard limit
 * when it starts, so a child can always reach the hard limit (`ulimit -Hn`); beyond it the child must be
 * started through `prlimit --nofile=N:N`, which only a process with CAP_SYS_RESOURCE may do (and never
 * past fs.nr_open). `ulimit -n` in a shell would not do: it changes that shell, not the harness.
 */
export interface OpenFiles {
  soft: number;
  hard: number;
  /** The kernel's ceiling for any process (fs.nr_open). */
  nrOpen: number;
}

export function openFilesLimits(): OpenFiles {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const row = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const value = (s: string | undefined) => (s === undefined ? 1024 : s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  const nrOpen = Number(readOr('/proc/sys/fs/nr_open', '1048576'));
  return { soft: value(row?.[1]), hard: value(row?.[2]), nrOpen };
}

/** Files a process needs besides its sockets: its modules, logs, the database, pipes, listening sockets. */
export const FILES_BESIDES_SOCKETS = 250;

/** The answer to "may a child open `files` files?": how to start it, or how far it may go and why. */
export type OpenFilesPlan = { ok: true; wrapper?: { execPath: string; args: string[] } } | { ok: false; max: number; why: string };

const raisable = new Map<number, boolean>();

/**
 * How to start a Node child that may open `files` files: as it is when the hard limit allows it, through
 * prlimit when this process may raise the hard limit (tried once per size with `prlimit … true`), else
 * the most it may open and why.
 */
export function planOpenFiles(files: number): OpenFilesPlan {
  const { hard, nrOpen } = openFilesLimits();
  if (files <= hard) return { ok: true };
  const prlimit = which('prlimit');
  if (files <= nrOpen && prlimit) {
    if (!raisable.has(files)) raisable.set(files, tryRaise(prlimit, files));
    if (raisable.get(files)) return { ok: true, wrapper: { execPath: prlimit, args: [`--nofile=${files}:${files}`] } };
  }
  const why = !prlimit
    ? `the hard open-files limit here is ${hard.toLocaleString('en')} and prlimit (util-linux) is not installed to raise it`
    : files > nrOpen
      ? `fs.nr_open is ${nrOpen.toLocaleString('en')}`
      : `the hard open-files limit here is ${hard.toLocaleString('en')} (ulimit -Hn) and this process may not raise it (prlimit needs CAP_SYS_RESOURCE)`;
  return { ok: false, max: hard, why };
}

function tryRaise(prlimit: string, files: number): boolean {
  try {
    execFileSync(prlimit, [`--nofile=${files}:${files}`, 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const file = `${dir}/${command}`;
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}
