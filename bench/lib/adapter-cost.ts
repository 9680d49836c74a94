import path from 'node:path';
import { Dovecot, dovecotProblem } from '../../test/helpers/dovecot.js';
import type { AdapterJob, AdapterReport } from '../load/imapflow-worker.js';
import { ROOT, TYPESCRIPT_LOADER, forkChild, stopChild } from './children.js';

/** W7: the ImapFlow adapter's CPU per command in the app process, or why it was not measured. */
export type AdapterCost = { commands: number; rounds: number; kinds: AdapterReport } | { unavailable: string };

/**
 * Starts a throwaway Dovecot (the tests' helper) and a worker process that runs ImapFlow commands
 * against it without and with imapflowLogger (see bench/load/imapflow-worker.ts). Needs what the
 * Dovecot tests need (dovecot-imapd, root); elsewhere the row says why it is missing.
 */
export async function measureAdapterCost(o: { commands: number; rounds: number }): Promise<AdapterCost> {
  const problem = dovecotProblem();
  if (problem) return { unavailable: `Dovecot unavailable: ${problem}` };
  const user = { user: 'bench', password: 'bench-imap-password' };
  const dovecot = await Dovecot.start([user]);
  const child = forkChild(path.join(ROOT, 'bench', 'load', 'imapflow-worker.ts'), { execArgv: TYPESCRIPT_LOADER });
  try {
    const reply = await new Promise<{ ok: true; report: AdapterReport } | { ok: false; message: string }>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the ImapFlow worker exited (${code})`)));
      child.on('message', (message: { ready?: true; ok?: boolean }) => {
        if (message.ready) child.send({ port: dovecot.port, user: user.user, password: user.password, ...o } satisfies AdapterJob);
        else resolve(message as never);
      });
    });
    if (!reply.ok) throw new Error(`the ImapFlow worker failed: ${reply.message}`);
    return { ...o, kinds: reply.report };
  } finally {
    await stopChild(child);
    await dovecot.stop();
  }
}
