import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LivetailProcess, PROCESS_TEST_TIMEOUT_MS, processEnv, tempDir } from '../helpers/process.js';
import { TEST_STORE } from '../helpers/server.js';
import { freePort } from '../helpers/services.js';

/** The one line a refused start must print: no stack frame, no second line. */
function expectOneLine(proc: LivetailProcess): string {
  const lines = proc.stderr.filter((l) => l.trim() !== '');
  expect(lines, `stderr: ${proc.stderr.join('\n')}`).toHaveLength(1);
  expect(lines[0]).not.toMatch(/^\s+at |Error:|node:internal/);
  return lines[0]!;
}

// Process-level behaviour, independent of the store: run once, in the sqlite project.
// Each case spawns a node process (about a second of CPU to load): a generous timeout for a busy machine.
describe.skipIf(TEST_STORE !== 'sqlite')('configuration errors stop the process with exit code 2 and one line', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  const run = (env: Record<string, string>, unset: string[] = []) => {
    const full = processEnv(tempDir(), env);
    for (const name of unset) delete full[name];
    const proc = LivetailProcess.start(full);
    onTestFinished(() => proc.kill());
    return proc;
  };

  const cases: Array<{ name: string; env: Record<string, string>; unset?: string[]; expect: RegExp[]; never?: string }> = [
    { name: 'PORT=abc', env: { PORT: 'abc' }, expect: [/^Invalid configuration: PORT="abc" /, /not an integer from 0 to 65535/] },
    {
      name: 'DATABASE_URL=mysql://...',
      env: { DATABASE_URL: 'mysql://root:hunter2@db.example/app' },
      expect: [/DATABASE_URL="mysql:\/\/root:\*\*\*\*@db\.example\/app"/, /unsupported scheme/, /file:<path>/, /postgres:\/\//],
      never: 'hunter2',
    },
    { name: 'HEARTBEAT_INTERVAL_MS=-1', env: { HEARTBEAT_INTERVAL_MS: '-1' }, expect: [/HEARTBEAT_INTERVAL_MS="-1"/, /integer from 100 to 3600000/, /milliseconds/] },
    {
      name: 'NODE_ENV=production without BETTER_AUTH_SECRET',
      env: { NODE_ENV: 'production' },
      unset: ['BETTER_AUTH_SECRET'],
      expect: [/BETTER_AUTH_SECRET/, /required when NODE_ENV=production/, /32/],
    },
    {
      name: 'BULLMQ_QUEUES without REDIS_URL',
      env: { BULLMQ_QUEUES: 'emails,imports' },
      expect: [/BULLMQ_QUEUES="emails,imports"/, /needs REDIS_URL/, /redis:\/\/host:6379/],
    },
    {
      name: 'a BETTER_AUTH_SECRET that is too short, without echoing it',
      env: { BETTER_AUTH_SECRET: 'tiny-secret' },
      expect: [/BETTER_AUTH_SECRET is shorter than 32 characters/, /openssl rand/],
      never: 'tiny-secret',
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const proc = run(c.env, c.unset);
      const exit = await proc.exited;
      expect(exit.code).toBe(2);
      const line = expectOneLine(proc);
      for (const pattern of c.expect) expect(line).toMatch(pattern);
      if (c.never) expect(proc.stderr.join('\n') + proc.stdout.join('\n')).not.toContain(c.never);
      // Nothing started, so nothing was logged.
      expect(proc.stdout.filter(Boolean)).toEqual([]);
    });
  }

  it('retries an unreachable store with backoff, one log line per attempt, then exits 2 with one line', async () => {
    const port = await freePort(); // nothing listens there: connections are refused at once
    const proc = run({ DATABASE_URL: `postgres://livetail:pw-not-shown@127.0.0.1:${port}/livetail`, STARTUP_TIMEOUT_MS: '2000' });
    const exit = await proc.exited;
    const exitedAt = Date.now();
    expect(exit.code).toBe(2);
    const line = expectOneLine(proc);
    expect(line).toMatch(/^livetail could not start: Cannot reach the database after \d+ attempts in 2 s \(STARTUP_TIMEOUT_MS=2000\): .*ECONNREFUSED/);

    const retries = proc.jsonLines().filter((l) => l.event === 'startup-retry');
    // 250, 500, 1000, then what is left of 2 s: each wait logged once with its delay.
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries.map((l) => l.attempt)).toEqual(retries.map((_, i) => i + 1));
    expect(retries.slice(0, 2).map((l) => l.retryInMs)).toEqual([250, 500]);
    for (const l of retries) {
      expect(l.dependency).toBe('database');
      expect(l.msg).toMatch(/^database not answering \(attempt \d+: .*ECONNREFUSED.*\); retrying in \d+ ms$/);
    }
    expect(line).toContain(`${retries.length + 1} attempts`);
    expect(proc.stdout.join('\n') + line).not.toContain('pw-not-shown');
    // Bounded: from the first failed attempt to the exit, the timeout plus one refused attempt (and room
    // for a loaded machine); module loading before the first attempt does not count.
    expect(exitedAt - retries[0]!.time).toBeLessThan(2000 + 3000);
  });

  it('exits at once with code 1 on SIGTERM while it still retries an unreachable store', async () => {
    const port = await freePort();
    const proc = run({ DATABASE_URL: `postgres://livetail@127.0.0.1:${port}/livetail`, STARTUP_TIMEOUT_MS: '60000' });
    await proc.logLine((l) => l.event === 'startup-retry');
    proc.signal('SIGTERM');
    expect((await proc.exited).code).toBe(1);
    expect(expectOneLine(proc)).toBe('SIGTERM while starting: exiting');
  });

  it('retries an unreachable Redis the same way', async () => {
    const port = await freePort();
    const proc = run({ REDIS_URL: `redis://127.0.0.1:${port}`, STARTUP_TIMEOUT_MS: '2000' });
    const exit = await proc.exited;
    expect(exit.code).toBe(2);
    const line = expectOneLine(proc);
    expect(line).toMatch(/^livetail could not start: Cannot reach the Redis after \d+ attempts in 2 s \(STARTUP_TIMEOUT_MS=2000\): /);
    const retries = proc.jsonLines().filter((l) => l.event === 'startup-retry');
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(line).toContain(`${retries.length + 1} attempts`);
    for (const l of retries) expect(l).toMatchObject({ dependency: 'Redis', msg: expect.stringMatching(/^Redis not answering \(attempt \d+: .+\); retrying in \d+ ms$/) });
  });

  it('says which PORT is taken when it cannot listen', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const proc = run({ PORT: String(port) });
      const exit = await proc.exited;
      expect(exit.code).toBe(2);
      expect(expectOneLine(proc)).toBe(`livetail could not start: PORT=${port} is already in use: stop the other process or set PORT to a free port`);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
