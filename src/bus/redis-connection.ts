import { Redis, type RedisOptions } from 'ioredis';

/**
 * Opens an ioredis client and resolves once it is ready, or rejects (and disconnects it) when the first
 * attempt fails, so the caller's startup retry loop decides how long to wait. After that first success
 * the client reconnects on its own with ioredis' backoff.
 */
export async function openRedis(url: string, options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis(url, {
    lazyConnect: true,
    // Reconnect forever after a fault, at most 2 s apart: a node outlives a Redis restart.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    ...options,
  });
  // Without a listener an 'error' event (e.g. ECONNREFUSED while reconnecting) would crash the process;
  // the owner attaches its own logging.
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (error) {
    client.disconnect();
    throw error;
  }
}
