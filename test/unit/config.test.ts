import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_VARIABLES, loadConfig } from '../../src/config.js';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has a default for every variable (an empty environment starts a development node)', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3002,
      database: { kind: 'sqlite', path: './data/livetail.db' },
      dataDir: './data',
      baseUrl: 'http://localhost:3002',
      trustedOrigins: ['http://localhost:3002'],
      heartbeatIntervalMs: 30_000,
      logFormat: 'json',
      logLevel: 'info',
      drainDelayMs: 0,
      shutdownTimeoutMs: 10_000,
      startupTimeoutMs: 30_000,
      perMessageDeflate: false,
      redis: undefined,
    });
    expect(config.nodeId).toMatch(/-\d+$/); // hostname-pid
  });

  it('treats an empty value as unset', () => {
    const config = loadConfig({ PORT: '', NODE_ID: '', DATA_DIR: '', LOG_FORMAT: undefined, DRAIN_DELAY_MS: ' ' });
    expect(config).toMatchObject({ port: 3002, dataDir: './data', drainDelayMs: 0 });
    expect(config.nodeId).not.toBe('');
  });

  it('reads the operational variables', () => {
    const config = loadConfig({
      LOG_FORMAT: 'pretty',
      LOG_LEVEL: 'debug',
      NODE_ID: 'web-1',
      DRAIN_DELAY_MS: '5000',
      SHUTDOWN_TIMEOUT_MS: '20000',
      STARTUP_TIMEOUT_MS: '0',
      HOST: '127.0.0.1',
      DATA_DIR: '/var/lib/livetail',
      PERMESSAGE_DEFLATE: 'true',
    });
    expect(config).toMatchObject({
      logFormat: 'pretty',
      logLevel: 'debug',
      nodeId: 'web-1',
      drainDelayMs: 5000,
      shutdownTimeoutMs: 20_000,
      startupTimeoutMs: 0,
      host: '127.0.0.1',
      dataDir: '/var/lib/livetail',
      perMessageDeflate: true,
    });
  });

  // Each bad value: the one line names the variable, shows the value (never a secret) and says what is accepted.
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ PORT: 'abc' }, 'PORT', /PORT="abc" is not an integer from 0 to 65535/],
    [{ PORT: '3002.5' }, 'PORT', /not an integer/],
    [{ DATABASE_URL: 'mysql://db/app' }, 'DATABASE_URL', /unsupported scheme \(expected file:<path> for SQLite or postgres:\/\//],
    [{ DATABASE_URL: 'file:' }, 'DATABASE_URL', /has no path \(expected file:/],
    [{ HEARTBEAT_INTERVAL_MS: '-1' }, 'HEARTBEAT_INTERVAL_MS', /from 100 to 3600000 \(milliseconds\)/],
    [{ NODE_ENV: 'production' }, 'BETTER_AUTH_SECRET', /required when NODE_ENV=production/],
    [{ NODE_ENV: 'prod' }, 'NODE_ENV', /is not development, production or test/],
    [{ BULLMQ_QUEUES: 'emails' }, 'BULLMQ_QUEUES', /needs REDIS_URL/],
    [{ REDIS_URL: 'http://cache:6379' }, 'REDIS_URL', /expected redis:\/\/host:6379/],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT', /is not json or pretty/],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /expected trace, debug, info, warn, error, fatal or silent/],
    [{ NODE_ID: 'web 1' }, 'NODE_ID', /without spaces \(e\.g\. web-1\)/],
    [{ HTTP_HEADERS_TIMEOUT_MS: '40000' }, 'HTTP_HEADERS_TIMEOUT_MS', /must not exceed HTTP_REQUEST_TIMEOUT_MS \(30000\)/],
    [{ MAX_CONNECTIONS_PER_ADDRESS: '-1' }, 'MAX_CONNECTIONS_PER_ADDRESS', /from 0 to 1000000 \(connections; 0 disables the cap\)/],
    [{ DRAIN_DELAY_MS: '-5' }, 'DRAIN_DELAY_MS', /from 0 to 600000/],
    [{ DRAIN_DELAY_MS: '10000' }, 'DRAIN_DELAY_MS', /must be less than SHUTDOWN_TIMEOUT_MS \(10000\)/],
    [{ SHUTDOWN_TIMEOUT_MS: 'soon' }, 'SHUTDOWN_TIMEOUT_MS', /from 100 to 600000/],
    [{ STARTUP_TIMEOUT_MS: '1e9' }, 'STARTUP_TIMEOUT_MS', /from 0 to 600000/],
    [{ PERMESSAGE_DEFLATE: 'maybe' }, 'PERMESSAGE_DEFLATE', /expected true or false/],
    [{ BASE_URL: 'localhost:3002' }, 'BASE_URL', /http:\/\/ or https:\/\//],
    [{ TRUSTED_ORIGINS: 'app.example.com' }, 'TRUSTED_ORIGINS', /not an origin such as https:\/\/app\.example\.com/],
    [{ REALTIME_LOG_LEVEL: 'loud' }, 'REALTIME_LOG_LEVEL', /expected debug, info, warn, error/],
  ];
  for (const [env, variable, pattern] of cases) {
    it(`refuses ${JSON.stringify(env)} naming ${variable}`, () => {
      const error = errorOf(env);
      expect(error.variable).toBe(variable);
      expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${variable}[ =]`));
      expect(error.message).toMatch(pattern);
      expect(error.message).not.toContain('\n');
    });
  }

  it('never shows a secret or the password of a URL', () => {
    expect(errorOf({ BETTER_AUTH_SECRET: 'too-short-secret' }).message).not.toContain('too-short-secret');
    expect(errorOf({ INGEST_TOKEN: 'short-token' }).message).not.toContain('short-token');
    const db = errorOf({ DATABASE_URL: 'mysql://app:s3cr3t@db.internal:3306/app' }).message;
    expect(db).toContain('DATABASE_URL="mysql://app:****@db.internal:3306/app"');
    expect(db).not.toContain('s3cr3t');
    expect(errorOf({ REDIS_URL: 'http://:p4ss@cache:6379' }).message).not.toContain('p4ss');
  });

  it('lists every variable it reads', () => {
    expect(ENV_VARIABLES).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'LOG_FORMAT', 'DRAIN_DELAY_MS', 'STARTUP_TIMEOUT_MS']));
    expect(new Set(ENV_VARIABLES).size).toBe(ENV_VARIABLES.length);
  });
});
