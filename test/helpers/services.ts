import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';

/**
 * The external services the *.pg.test.ts / *.redis.test.ts files and the PostgreSQL project need.
 * TEST_DATABASE_URL and TEST_REDIS_URL default to the services this machine runs. Where CI=true a service
 * that does not answer fails the run; elsewhere its tests are skipped, and vitest.config.ts prints one
 * line per missing service.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const IN_CI = process.env.CI === 'true';

export type ServiceName = 'postgres' | 'redis';

/** Why the service does not answer, or undefined when it does. Asked once per process. */
const probes: Partial<Record<ServiceName, Promise<string | undefined>>> = {};

export function probe(service: ServiceName): Promise<string | undefined> {
  return (probes[service] ??= service === 'postgres' ? probePostgres() : probeRedis());
}

async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    client.disconnect();
  }
}

/**
 * True when the service answers. False when it does not and CI is not set (the caller skips its tests);
 * throws when CI=true, so a CI run without the service fails instead of passing by skipping.
 */
export async function serviceAvailable(service: ServiceName): Promise<boolean> {
  const problem = await probe(service);
  if (problem === undefined) return true;
  if (IN_CI) throw new Error(`${service} does not answer at ${urlOf(service)} (${problem}) and CI=true: failing instead of skipping its tests`);
  return false;
}

/** The one line vitest.config.ts prints for a missing service. */
export function skipLine(service: ServiceName, problem: string): string {
  return `[livetail tests] ${service} not answering at ${urlOf(service)} (${problem}): its tests are skipped (set ${service === 'postgres' ? 'TEST_DATABASE_URL' : 'TEST_REDIS_URL'} or start it)`;
}

function urlOf(service: ServiceName): string {
  return service === 'postgres' ? TEST_DATABASE_URL : TEST_REDIS_URL;
}

/** A database of its own for one test file, created on the server of TEST_DATABASE_URL. */
export interface TestDatabase {
  url: string;
  name: string;
  /** Drops the database, ending any connection still open to it. Idempotent. */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `livetail_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin(`create database ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return { url: url.toString(), name, drop: () => (dropped ??= admin(`drop database if exists ${name} with (force)`)) };
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A key and channel prefix no other test uses, for tests sharing the machine's Redis. */
export function randomRedisPrefix(): string {
  return `livetail-test:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under `prefix` on the shared Redis (what a test's random prefix left behind). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const client = new Redis(TEST_REDIS_URL);
  client.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A redis-server of the test's own on a free port, for fault tests that stop Redis (never the shared one).
 * Nothing is persisted, so a restart starts empty, as a crashed cache would.
 */
export class OwnRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort());
    await redis.restart();
    return redis;
  }

  /** Starts the server (again) on the same port and resolves once it answers. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    for (let i = 0; i < 100; i++) {
      if (await answers(this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not come up`);
  }

  /** SIGKILL: every client connection breaks at once, nothing is flushed. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  stop(): Promise<void> {
    return this.kill();
  }
}

async function answers(port: number): Promise<boolean> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
