import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consoleServerEnv, freePort } from '../e2e/ports.js';
import { api, entry, service, signIn, signOut, signUp, type TestUser } from '../helpers/http.js';
import { ScriptedServer } from '../helpers/scripted-http.js';
import { INGEST_TOKEN, type TestServer, startTestServer } from '../helpers/server.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'livetail.js');

/** A running `livetail` process whose output the test can wait on (never sleep). */
class Cli {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk) => this.add('stdout', String(chunk)));
    child.stderr!.on('data', (chunk) => this.add('stderr', String(chunk)));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static start(args: string[], env: Record<string, string> = {}): Cli {
    // No inherited LIVETAIL_* / INGEST_TOKEN / colour settings: each test says what it means.
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(LIVETAIL_|INGEST_TOKEN|NO_COLOR|FORCE_COLOR)/.test(k)));
    return new Cli(spawn(process.execPath, [BIN, ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** Runs to the end: exit code and output. */
  static async run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const cli = Cli.start(args, env);
    const code = await withTimeout(cli.exited, 15_000, () => `livetail ${args.join(' ')} to exit; stdout: ${JSON.stringify(cli.stdout)}, stderr: ${JSON.stringify(cli.stderr)}`);
    return { code, stdout: cli.stdout, stderr: cli.stderr };
  }

  /** Resolves once stdout or stderr matches. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve) => {
        const check = () => {
          if (!pattern.test(this[stream])) return false;
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve();
          return true;
        };
        const waiter = () => void check();
        if (!check()) this.waiters.push(waiter);
      }),
      timeoutMs,
      () => `${pattern} on ${stream}; stdout: ${JSON.stringify(this.stdout)}, stderr: ${JSON.stringify(this.stderr)}`,
    );
  }

  lines(): string[] {
    return this.stdout.split('\n').filter(Boolean);
  }

  /** Ctrl-C, and the exit code it ends with. */
  async interrupt(): Promise<number | null> {
    this.child.kill('SIGINT');
    return withTimeout(this.exited, 5000, 'livetail to exit after SIGINT');
  }

  private add(stream: 'stdout' | 'stderr', text: string): void {
    this[stream] += text;
    for (const waiter of [...this.waiters]) waiter();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const describe = () => (typeof what === 'string' ? what : what());
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${describe()}`)), ms))),
  ]);
}

describe('livetail CLI against a running server', () => {
  let server: TestServer;
  let user: TestUser;
  const running: Cli[] = [];

  beforeAll(async () => {
    // BASE_URL is the server's own URL, as in a real deployment: the CLI's default Origin is trusted.
    server = await startTestServer(consoleServerEnv(await freePort()));
    user = await signUp(server.url);
  });
  afterEach(async () => {
    for (const cli of running.splice(0)) if (cli.child.exitCode === null) await cli.interrupt();
  });
  afterAll(() => server?.close());

  const tail = (args: string[], env: Record<string, string> = {}) => {
    const cli = Cli.start(['tail', '--url', server.url, ...args], env);
    running.push(cli);
    return cli;
  };
  const asUser = (u: TestUser) => ['--email', u.email, '--password', u.password];
  const publish = async (u: TestUser, overrides: Record<string, unknown>) => {
    const res = await api(server.url, 'POST', '/api/logs', service, entry({ userId: u.userId, ...overrides }));
    expect(res.status).toBe(201);
    return res.body.logs[0] as { id: string };
  };

  describe('--help', () => {
    it('documents both commands and exits 0', async () => {
      const { code, stdout } = await Cli.run(['--help']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^\s+tail\s+Stream your logs live/m);
      expect(stdout).toMatch(/^\s+publish\s+Send a log or a job event/m);
    });

    it('documents every option of tail and publish', async () => {
      const [tailHelp, publishHelp] = await Promise.all([Cli.run(['tail', '--help']), Cli.run(['publish', '--help'])]);
      expect(tailHelp.code).toBe(0);
      for (const option of ['--email', '--password', '--cookie', '--level', '--account', '--json', '--since', '--url']) expect(tailHelp.stdout).toContain(option);
      expect(publishHelp.code).toBe(0);
      for (const option of ['--token', '--user', '--account', '--command', '--job', '--status', '--progress']) expect(publishHelp.stdout).toContain(option);
    });

    it('answers an unknown command or option with exit code 2 and a pointer to --help', async () => {
      const [unknown, badOption] = await Promise.all([Cli.run(['follow']), Cli.run(['tail', '--lines', '5'])]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toBe('livetail: Unknown command "follow": livetail has tail and publish\nRun: livetail --help\n');
      expect(badOption.code).toBe(2);
      expect(badOption.stderr).toMatch(/^livetail tail: Unknown option '--lines'.*\nRun: livetail tail --help\n$/s);
    });
  });

  describe('publish', () => {
    it('sends a log with INGEST_TOKEN from the environment', async () => {
      const target = await signUp(server.url);
      const { code, stdout, stderr } = await Cli.run(
        ['publish', '--url', server.url, '--user', target.userId, '--account', 'me@example.com', '--command', 'FETCH', '--level', 'warn',
          '--raw', 'A1 FETCH 1:* (FLAGS)', '--response', 'A1 OK', '--duration', '42', '--parsed', '{"sequence":"1:*"}', '--error', 'slow'],
        { INGEST_TOKEN },
      );
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const [log] = (await api(server.url, 'GET', `/api/logs?userId=${target.userId}`, service)).body.logs;
      expect(stdout).toBe(`published log ${log.id}\n`);
      expect(log).toMatchObject({
        userId: target.userId,
        emailAccountId: 'me@example.com',
        level: 'warn',
        command: 'FETCH',
        data: { raw: 'A1 FETCH 1:* (FLAGS)', response: 'A1 OK', duration: 42, parsed: { sequence: '1:*' }, error: 'slow' },
      });
    });

    it('sends a job event with --token, printing the server answer with --json', async () => {
      const target = await signUp(server.url);
      const { code, stdout } = await Cli.run([
        'publish', 'job', '--url', server.url, '--token', INGEST_TOKEN, '--user', target.userId,
        '--job', 'import-7', '--status', 'progress', '--progress', '40', '--name', 'import', '--data', '{"queue":"imports"}', '--json',
      ]);
      expect(code).toBe(0);
      const event = { userId: target.userId, jobId: 'import-7', status: 'progress', progress: 40, name: 'import', queue: 'imports' };
      expect(JSON.parse(stdout)).toEqual({ event });
      expect((await api(server.url, 'GET', `/api/jobs?userId=${target.userId}`, service)).body.jobs).toEqual([event]);
    });

    it('sends a log as a signed-in user, without a token', async () => {
      const target = await signUp(server.url);
      const { code } = await Cli.run(['publish', '--url', server.url, ...asUser(target), '--account', 'a', '--command', 'NOOP']);
      expect(code).toBe(0);
      expect((await api(server.url, 'GET', `/api/logs?userId=${target.userId}`, service)).body.logs.map((l: { command: string }) => l.command)).toEqual(['NOOP']);
    });

    it('reports a refused token with the server error and exit code 1', async () => {
      const { code, stderr } = await Cli.run(['publish', '--url', server.url, '--token', 'wrong-token-0123456789', '--user', user.userId, '--account', 'a', '--command', 'X']);
      expect(code).toBe(1);
      expect(stderr).toBe('livetail publish: publish failed: HTTP 401 Invalid bearer token (UNAUTHENTICATED)\n');
    });

    it('reports an invalid entry field by field', async () => {
      const { code, stderr } = await Cli.run(['publish', '--url', server.url, '--token', INGEST_TOKEN, '--user', user.userId, '--account', 'a', '--command', 'X'.repeat(200)]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^livetail publish: publish failed: HTTP 400 .*\(VALIDATION_FAILED\)\n {2}0\.command: /);
    });

    it('refuses a missing field or credential before sending anything (exit code 2)', async () => {
      const [noAccount, noUser, noCredentials] = await Promise.all([
        Cli.run(['publish', '--url', server.url, '--token', INGEST_TOKEN, '--user', user.userId, '--command', 'X']),
        Cli.run(['publish', '--url', server.url, '--token', INGEST_TOKEN, '--account', 'a', '--command', 'X']),
        Cli.run(['publish', '--url', server.url, '--account', 'a', '--command', 'X']),
      ]);
      expect(noAccount.code).toBe(2);
      expect(noAccount.stderr).toContain('--account <email account id> is required for a log');
      expect(noUser.code).toBe(2);
      expect(noUser.stderr).toContain('--user <user id> is required with the service token');
      expect(noCredentials.code).toBe(2);
      expect(noCredentials.stderr).toContain('No credentials');
    });

    it('names the URL it cannot reach', async () => {
      const port = await freePort();
      const { code, stderr } = await Cli.run(['publish', '--url', `http://127.0.0.1:${port}`, '--token', INGEST_TOKEN, '--user', 'u', '--account', 'a', '--command', 'X']);
      expect(code).toBe(1);
      expect(stderr).toContain(`Cannot reach http://127.0.0.1:${port} (ECONNREFUSED)`);
    });

    it('sends a log through the publisher: a 503 is retried with the same Idempotency-Key', async () => {
      const scripted = await ScriptedServer.start();
      try {
        scripted.answer(
          { status: 503, headers: { 'retry-after': '0' }, body: { error: 'Server is shutting down', code: 'SHUTTING_DOWN' } },
          { status: 201, body: { logs: [{ id: '0190b4c2-0000-7000-8000-000000000001' }] } },
        );
        const { code, stdout } = await Cli.run(['publish', '--url', scripted.url, '--token', INGEST_TOKEN, '--user', 'u1', '--account', 'a', '--command', 'NOOP']);
        expect(code).toBe(0);
        expect(stdout).toBe('published log 0190b4c2-0000-7000-8000-000000000001\n');
        expect(scripted.requests).toHaveLength(2);
        const [first, retry] = scripted.requests;
        expect(first!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
        expect(retry!.headers['idempotency-key']).toBe(first!.headers['idempotency-key']);
        expect(retry!.logs).toEqual([{ userId: 'u1', emailAccountId: 'a', level: 'info', command: 'NOOP', data: {} }]);
      } finally {
        await scripted.close();
      }
    });

    it('stops after 3 attempts and reports the last answer', async () => {
      const scripted = await ScriptedServer.start();
      try {
        const busy = { status: 503, headers: { 'retry-after': '0' }, body: { error: 'The store is unavailable: retry later', code: 'STORE_UNAVAILABLE' } };
        scripted.answer(busy, busy, busy, busy);
        const { code, stderr } = await Cli.run(['publish', '--url', scripted.url, '--token', INGEST_TOKEN, '--user', 'u1', '--account', 'a', '--command', 'NOOP']);
        expect(code).toBe(1);
        expect(stderr).toBe('livetail publish: publish failed: HTTP 503 The store is unavailable: retry later (STORE_UNAVAILABLE)\n');
        expect(scripted.requests).toHaveLength(3);
      } finally {
        await scripted.close();
      }
    });
  });

  describe('tail', () => {
    it('signs in, prints the latest logs, streams new ones as one line each, and exits 0 on Ctrl-C', async () => {
      const u = await signUp(server.url);
      await publish(u, { command: 'OLD', emailAccountId: 'me@example.com' });
      const cli = tail([...asUser(u), '--no-color']);
      await cli.waitFor('stderr', /following http:\/\/127\.0\.0\.1:\d+ \(Ctrl-C to stop\)/);
      await cli.waitFor('stdout', /OLD/);
      await publish(u, { command: 'LOGIN', level: 'error', emailAccountId: 'me@example.com', data: { raw: 'A1 LOGIN me ****', response: 'A1 NO', duration: 150, error: 'auth failed' } });
      await cli.waitFor('stdout', /LOGIN/);
      expect(cli.lines()[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR me@example\.com LOGIN 150ms A1 LOGIN me \*\*\*\* → A1 NO ✖ auth failed$/);
      expect(await cli.interrupt()).toBe(0);
    });

    it('filters with --level and --account, and prints JSON lines with --json', async () => {
      const u = await signUp(server.url);
      const cli = tail([...asUser(u), '--level', 'warn', '--account', 'keep@example.com', '--json']);
      await cli.waitFor('stderr', /following/);
      await publish(u, { command: 'INFO-KEEP', level: 'info', emailAccountId: 'keep@example.com' });
      await publish(u, { command: 'WARN-OTHER', level: 'warn', emailAccountId: 'other@example.com' });
      const kept = await publish(u, { command: 'ERROR-KEEP', level: 'error', emailAccountId: 'keep@example.com' });
      await cli.waitFor('stdout', /ERROR-KEEP/);
      const lines = cli.lines().map((line) => JSON.parse(line));
      expect(lines.map((l) => l.command)).toEqual(['ERROR-KEEP']);
      expect(lines[0].id).toBe(kept.id);
      expect(cli.stdout).not.toContain('\u001b['); // no colour codes in JSON
    });

    it('colours the level on a terminal (FORCE_COLOR) and not when piped', async () => {
      const u = await signUp(server.url);
      await publish(u, { command: 'PAINTED', level: 'error' });
      const coloured = tail([...asUser(u)], { FORCE_COLOR: '1' });
      const plain = tail([...asUser(u)]);
      await Promise.all([coloured.waitFor('stdout', /PAINTED/), plain.waitFor('stdout', /PAINTED/)]);
      expect(coloured.stdout).toContain('\u001b[31mERROR');
      expect(plain.stdout).not.toContain('\u001b[');
    });

    it('prints job events too with --jobs', async () => {
      const u = await signUp(server.url);
      const cli = tail([...asUser(u), '--jobs', '--no-color']);
      await cli.waitFor('stderr', /following/);
      expect((await api(server.url, 'POST', '/api/jobs/events', service, { userId: u.userId, jobId: 'import-1', status: 'progress', progress: 40 })).status).toBe(201);
      await cli.waitFor('stdout', /import-1/);
      expect(cli.lines()).toEqual([expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} JOB {3}import-1 progress 40%$/)]);
    });

    it('starts after --since', async () => {
      const u = await signUp(server.url);
      await publish(u, { command: 'FIRST' });
      const second = await publish(u, { command: 'SECOND' });
      await publish(u, { command: 'THIRD' });
      const cli = tail([...asUser(u), '--since', second.id, '--no-color']);
      await cli.waitFor('stdout', /THIRD/);
      await publish(u, { command: 'FOURTH' });
      await cli.waitFor('stdout', /FOURTH/);
      expect(cli.lines().map((line) => line.split(/\s+/)[3])).toEqual(['THIRD', 'FOURTH']);
    });

    it('accepts --cookie, and exits 3 when that session is signed out', async () => {
      const u = await signUp(server.url);
      const cookie = await signIn(server.url, u);
      const cli = tail(['--cookie', cookie]);
      await cli.waitFor('stderr', /following/);
      expect((await signOut(server.url, cookie)).status).toBe(200);
      expect(await withTimeout(cli.exited, 5000, 'tail to exit')).toBe(3);
      expect(cli.stderr).toContain('session ended: signed out, revoked or expired');
    });

    it('explains a refused sign-in: wrong password, invalid cookie, no credentials', async () => {
      // (An untrusted --origin cannot be shown here: better-auth skips its Origin check when NODE_ENV=test.)
      const [wrong, badCookie, nothing] = await Promise.all([
        Cli.run(['tail', '--url', server.url, '--email', user.email, '--password', 'not it']),
        Cli.run(['tail', '--url', server.url, '--cookie', 'better-auth.session_token=forged']),
        Cli.run(['tail', '--url', server.url]),
      ]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/^livetail tail: Sign-in failed: HTTP 401 Invalid email or password/);
      expect(badCookie.code).toBe(1);
      expect(badCookie.stderr).toContain('not signed in: the session cookie is invalid or expired');
      expect(nothing.code).toBe(2);
      expect(nothing.stderr).toContain('Not signed in: give --email and --password');
    });

    it('reconnects after a server restart and resumes without a gap or a duplicate', async () => {
      const u = await signUp(server.url);
      const cli = tail([...asUser(u), '--no-color']);
      await cli.waitFor('stderr', /following/);
      await publish(u, { command: 'BEFORE' });
      await cli.waitFor('stdout', /BEFORE/);

      const { env, dir } = server;
      await server.close();
      await cli.waitFor('stderr', /connection lost: reconnecting in \d+ s/);
      // Published while this node is down, through another node on the same database.
      const meanwhile = await startTestServer({ ...env, PORT: '0' }, dir);
      await api(meanwhile.url, 'POST', '/api/logs', service, [entry({ userId: u.userId, command: 'DURING' })]);
      await meanwhile.close();
      server = await startTestServer(env, dir);

      await cli.waitFor('stderr', /reconnected: resuming after the last log shown/, 40_000);
      await cli.waitFor('stdout', /DURING/);
      await publish(u, { command: 'AFTER' });
      await cli.waitFor('stdout', /AFTER/);
      expect(cli.lines().map((line) => line.split(/\s+/)[3])).toEqual(['BEFORE', 'DURING', 'AFTER']);
    });
  });
});
