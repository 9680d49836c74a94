import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './services.js';

/** Debian's Dovecot (apt package dovecot-imapd); .ci/run installs it. */
export const DOVECOT_BIN = process.env.TEST_DOVECOT_BIN || '/usr/sbin/dovecot';

/**
 * Why the Dovecot-backed tests cannot run here, or undefined when they can. Dovecot switches its
 * processes to the `dovecot` and `dovenull` users, so it needs root and those users (the package
 * creates them).
 */
export function dovecotProblem(): string | undefined {
  if (!fs.existsSync(DOVECOT_BIN)) return `${DOVECOT_BIN} not found (apt-get install dovecot-imapd)`;
  if (process.getuid?.() !== 0) return 'Dovecot switches users and needs root';
  if (systemUid('dovecot') === undefined || systemUid('dovenull') === undefined) return 'the dovecot and dovenull users are missing';
  return undefined;
}

/** The one line vitest.config.ts prints when Dovecot is missing. */
export function dovecotSkipLine(problem: string): string {
  return `[livetail tests] Dovecot unavailable (${problem}): the IMAP capture tests against a real server are skipped`;
}

/** True when Dovecot can run; false (skip) when not and CI is unset; throws where CI=true. */
export function dovecotAvailable(): boolean {
  const problem = dovecotProblem();
  if (problem === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`Dovecot unavailable (${problem}) and CI=true: failing instead of skipping its tests`);
  return false;
}

export interface ImapUser {
  user: string;
  password: string;
}

/**
 * A throwaway Dovecot IMAP server on a free loopback port: its config, base dir, state, log and
 * maildirs in a temp dir, users from a passwd-file, no SSL (plaintext auth allowed on loopback), no
 * system service touched. `dovecot -F` is the master process itself, so stop() ends it by its PID
 * (it takes its imap and auth children with it).
 */
export class Dovecot {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
    readonly users: ImapUser[],
  ) {}

  static async start(users: ImapUser[]): Promise<Dovecot> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-dovecot-'));
    // The mail processes run as dovecot: they must reach the maildirs under this dir.
    fs.chmodSync(dir, 0o755);
    const mail = path.join(dir, 'mail');
    for (const sub of ['run', 'state', 'mail']) fs.mkdirSync(path.join(dir, sub));
    const uid = systemUid('dovecot')!;
    const gid = systemGid('dovecot')!;
    fs.chownSync(mail, uid, gid);
    // Read by the auth worker, which runs as dovecot.
    const passwd = path.join(dir, 'users');
    fs.writeFileSync(passwd, users.map((u) => `${u.user}:{PLAIN}${u.password}::::::\n`).join(''), { mode: 0o600 });
    fs.chownSync(passwd, uid, gid);
    const port = await freePort();
    const config = path.join(dir, 'dovecot.conf');
    fs.writeFileSync(config, dovecotConfig(dir, port, uid));
    const child = spawn(DOVECOT_BIN, ['-F', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    const dovecot = new Dovecot(child, port, dir, users);
    try {
      await dovecot.untilReady();
    } catch (error) {
      await dovecot.stop();
      const log = fs.existsSync(path.join(dir, 'dovecot.log')) ? fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8') : '';
      throw new Error(`${(error as Error).message}\n--- dovecot output ---\n${output}\n--- dovecot.log ---\n${log}`);
    }
    return dovecot;
  }

  /** Dovecot's own log (logins, errors), for a failing test's message. */
  log(): string {
    const file = path.join(this.dir, 'dovecot.log');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Resolves once a connection gets Dovecot's "ready" greeting (the login process and auth are up). */
  private async untilReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`dovecot exited with code ${this.child.exitCode}`);
      if (await greets(this.port)) return;
      if (Date.now() > deadline) throw new Error(`dovecot did not greet on 127.0.0.1:${this.port} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (chunk) => {
      text += chunk;
      if (/\bready\b/i.test(text)) done(true);
    });
    socket.on('close', () => resolve(false));
  });
}

/**
 * Dovecot 2.3's settings for a loopback test server. The login process runs as dovenull and the mail
 * processes as dovecot (Dovecot refuses to run them as root); first_valid_uid lets that system uid
 * read mail.
 */
function dovecotConfig(dir: string, port: number, uid: number): string {
  return `# Generated by test/helpers/dovecot.ts for one test run.
protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests fail logins on purpose: answer them at once.
auth_failure_delay = 0
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = ${uid}
last_valid_uid = ${uid}
mail_location = maildir:${dir}/mail/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=${dir}/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`;
}

function systemUid(name: string): number | undefined {
  return passwdField(name, 2);
}

function systemGid(name: string): number | undefined {
  return passwdField(name, 3);
}

function passwdField(name: string, field: number): number | undefined {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const value = line?.split(':')[field];
  return value === undefined ? undefined : Number(value);
}
