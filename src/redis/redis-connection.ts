import { Redis, type RedisOptions } from 'ioredis';

/**
 * What a connection is for; each role sets the ioredis options that use needs.
 *
 * - `bus-publisher`: the RedisBus's publishes. A publish waits in ioredis' offline queue (in order)
 *   through a short blip and fails after three reconnects; subscribers then catch up from the store.
 * - `bus-subscriber`: the RedisBus's subscriptions. ioredis' own re-subscribe is off: the bus
 *   re-subscribes itself after a reconnect, to know when it is done.
 * - `bullmq`: the BullMQ bridge's commands: the leader lease, job owners, recorded stream positions,
 *   and its `Queue`s' reads (`Job.fromId`). ioredis' default retries: a command waits through a blip
 *   and fails in a long outage, and the bridge then reads again from its last recorded event.
 * - `bullmq-events`: the connection handed to each `QueueEvents` for its blocking `XREAD`. BullMQ
 *   requires `maxRetriesPerRequest: null` there (a blocking read must not fail for taking long) and
 *   duplicates the client it is given for it (bullmq `createRedisBackend`), so this one is a template
 *   (`createRedisTemplate`) that never connects itself.
 */
export type RedisRole = 'bus-publisher' | 'bus-subscriber' | 'bullmq' | 'bullmq-events';

const ROLE_OPTIONS: Record<RedisRole, RedisOptions> = {
  'bus-publisher': { connectionName: 'livetail-bus-pub', maxRetriesPerRequest: 3 },
  'bus-subscriber': { connectionName: 'livetail-bus-sub', autoResubscribe: false },
  bullmq: { connectionName: 'livetail-bullmq' },
  'bullmq-events': { connectionName: 'livetail-bullmq-events', maxRetriesPerRequest: null },
};

/**
 * The one place livetail makes Redis clients (REDIS_URL): the bus, the BullMQ bridge and its leader lease
 * all come through here. The URL goes to ioredis as it is, so everything it carries is kept: host and
 * port (IPv6 in brackets), `username:password@`, the database in the path (`/2`), TLS for `rediss://`,
 * and query options as ioredis options (`?family=6`, `?connectTimeout=5000`). A query option that names
 * one of a role's options wins over it (ioredis reads the URL first), so do not set those in REDIS_URL.
 *
 * Not connected: ioredis connects on the first command, or on `connect()`.
 */
export function createRedis(url: string, role: RedisRole): Redis {
  const client = new Redis(url, {
    lazyConnect: true,
    // Reconnect forever after a fault, at most 2 s apart: a node outlives a Redis restart.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    ...ROLE_OPTIONS[role],
  });
  // Without a listener an 'error' event (e.g. ECONNREFUSED while reconnecting) would crash the process;
  // the owner attaches its own logging.
  client.on('error', () => {});
  return client;
}

/**
 * A client for `role`, resolved once it is ready; rejects (and disconnects it) when the first attempt
 * fails, so the caller's startup retry loop decides how long to wait. After that first success the
 * client reconnects on its own.
 */
export async function openRedis(url: string, role: RedisRole): Promise<Redis> {
  const client = createRedis(url, role);
  try {
    await client.connect();
    return client;
  } catch (error) {
    client.disconnect();
    throw error;
  }
}

/**
 * Resolves when the client answers a PING; rejects at once while it is not connected, rather than
 * queueing the PING until it is (a readiness probe wants an answer now).
 */
export async function pingRedis(client: Redis): Promise<void> {
  if (client.status !== 'ready') throw new Error(`redis connection ${client.options.connectionName ?? ''} is ${client.status}`);
  await client.ping();
}

/**
 * A client that never connects itself, for a library that makes its connections by duplicating the one
 * it is given (BullMQ's QueueEvents, `bullmq-events`). Every duplicate is kept in `duplicates`, with the
 * same 'error' guard as `createRedis`, so the owner can drop them itself (`dropRedis`) rather than
 * depend on the library's close.
 */
export function createRedisTemplate(url: string, role: RedisRole): { template: Redis; duplicates: Redis[] } {
  const template = createRedis(url, role);
  const duplicates: Redis[] = [];
  const duplicate = template.duplicate.bind(template);
  template.duplicate = (override) => {
    const client = duplicate(override);
    client.on('error', () => {});
    duplicates.push(client);
    return client;
  };
  return { template, duplicates };
}

/**
 * Drops a client now, whatever its state: it ends (status `end`, the 'end' event) and every command
 * waiting on it fails with "Connection is closed." at once.
 *
 * ioredis' `disconnect()` alone does not do that for a client between two reconnect attempts (status
 * `reconnecting`): it only clears the retry timer, and with no socket left to close no 'close' event
 * follows, so the client stays `reconnecting` for good, never emits 'end', and the commands in its
 * offline queue never settle (ioredis Redis#disconnect: only a client still in `wait` is closed at
 * once). Whoever waits for its 'end' (BullMQ's QueueEvents.close) or for one of its commands then waits
 * forever. There a connect started and cancelled in the same tick ends it: the connector sees the
 * cancel before it opens a socket, and ioredis flushes the queues and sets `end`.
 */
export function dropRedis(client: Redis): void {
  if (client.status === 'end') return;
  if (client.status === 'reconnecting') client.connect().catch(() => {});
  client.disconnect();
}

/** How long a QUIT may wait for its answer before the connection is dropped instead. */
const QUIT_TIMEOUT_MS = 1000;

/**
 * Closes a client: QUIT when connected (pending replies arrive first), otherwise drops it (`dropRedis`).
 * Bounded: a connection that goes away while quitting (Redis restarting) is dropped after
 * QUIT_TIMEOUT_MS, so a shutdown never waits on it.
 */
export async function quitRedis(client: Redis): Promise<void> {
  if (client.status !== 'ready') return dropRedis(client);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([client.quit(), new Promise((resolve) => (timer = setTimeout(resolve, QUIT_TIMEOUT_MS)))]);
  } catch {
    // dropped below
  } finally {
    clearTimeout(timer);
    dropRedis(client);
  }
}
