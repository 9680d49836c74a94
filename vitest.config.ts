import fs from 'node:fs';
import path from 'node:path';
import { type ViteUserConfig, defineConfig } from 'vitest/config';
import { dovecotProblem, dovecotSkipLine } from './test/helpers/dovecot.js';
import { type ServiceName, probe, skipLine } from './test/helpers/services.js';

/**
 * Two projects: `sqlite` runs every test file; `postgres` runs the integration suite again with
 * startTestServer on PostgreSQL (LIVETAIL_TEST_STORE), each file on a fresh database. Files named
 * *.pg.test.ts / *.redis.test.ts / *.dovecot.test.ts pick their services themselves and run once. A
 * service that does not answer (or a Dovecot that cannot run) skips its tests with one line here, or
 * fails the run where CI=true.
 */
export default defineConfig(async (): Promise<ViteUserConfig> => {
  const missing: ServiceName[] = [];
  for (const service of ['postgres', 'redis'] as const) {
    const problem = await probe(service);
    if (problem === undefined) continue;
    if (process.env.CI === 'true') throw new Error(`${service} does not answer (${problem}) and CI=true: start it (see .ci/run)`);
    // vitest evaluates this config more than once (root and projects): say it once per run.
    const said = `LIVETAIL_TEST_SKIP_SAID_${service}`;
    if (!process.env[said]) console.warn(skipLine(service, problem));
    process.env[said] = '1';
    missing.push(service);
  }
  // Dovecot (the IMAP capture tests' real server) is a program the tests start, not a service to reach.
  const dovecot = dovecotProblem();
  if (dovecot !== undefined) {
    if (process.env.CI === 'true') throw new Error(`Dovecot unavailable (${dovecot}) and CI=true: install it (see .ci/run)`);
    if (!process.env.LIVETAIL_TEST_SKIP_SAID_dovecot) console.warn(dovecotSkipLine(dovecot));
    process.env.LIVETAIL_TEST_SKIP_SAID_dovecot = '1';
  }
  return {
    test: {
      testTimeout: 30_000,
      hookTimeout: 60_000,
      pool: 'forks',
      // Two cores: two test files at a time keeps timing-sensitive tests honest.
      maxWorkers: 2,
      reporters: ['default'],
      projects: [
        { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'], env: { LIVETAIL_TEST_STORE: 'sqlite' } } },
        ...(missing.includes('postgres')
          ? []
          : [
              {
                extends: true as const,
                test: {
                  name: 'postgres',
                  include: storeDependentFiles(),
                  env: { LIVETAIL_TEST_STORE: 'postgres' },
                },
              },
            ]),
      ],
    },
  };
});

/**
 * The integration files whose servers come from startTestServer, so their store is the project's. Files
 * that test no store (config, a scripted fake server, spawned processes only) would only run twice, and
 * *.pg.test.ts / *.redis.test.ts choose their services themselves.
 */
function storeDependentFiles(): string[] {
  const dir = 'test/integration';
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts') && !/\.(pg|redis|dovecot)\.test\.ts$/.test(file))
    .map((file) => path.posix.join(dir, file.split(path.sep).join('/')))
    .filter((file) => /\b(startTestServer|serversPerTest)\(/.test(fs.readFileSync(file, 'utf8')));
}
