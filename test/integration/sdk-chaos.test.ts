import { afterEach, describe, expect, it } from 'vitest';
import { entry, signUp } from '../helpers/http.js';
import { recordedClient, type SdkRecorder } from '../helpers/sdk-client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with LIVETAIL_CHAOS_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SDK under chaos', () => {
  let server: TestServer | undefined;
  let client: SdkRecorder | undefined;
  afterEach(async () => {
    await client?.client.close();
    await server?.close();
  });

  it('delivers 10,000 logs exactly once and in order through 20 cut connections and a server restart', async () => {
    const seed = Number(process.env.LIVETAIL_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = prng(seed);
    const TOTAL = 10_000;
    const BATCH = 50;
    const BATCHES = TOTAL / BATCH;
    const CUTS = 20;
    // A small INITIAL_LOGS: a reconnect that did not resume would visibly lose logs.
    const env = { MAX_LOGS_PER_USER: String(TOTAL), INITIAL_LOGS: '10' };

    server = await startTestServer(env);
    const port = server.node.port;
    const user = await signUp(server.url);
    const sdk = recordedClient({
      url: server.wsUrl,
      headers: { cookie: user.cookie },
      backoff: { baseMs: 5, capMs: 50, stableAfterMs: 1000 },
    });
    client = sdk;
    await sdk.until(() => sdk.all('initial-logs').length === 1, 'the first initial-logs');

    const restartAt = 40 + Math.floor(random() * (BATCHES - 80));
    const cutAfter = new Set<number>();
    while (cutAfter.size < CUTS) {
      const b = Math.floor(random() * BATCHES);
      if (b !== restartAt) cutAfter.add(b);
    }

    for (let b = 0; b < BATCHES; b++) {
      if (b === restartAt) {
        // Restart under a live connection, so the client sees the 1001 of a shutdown (and maybe refused attempts).
        await sdk.until(() => sdk.client.state === 'open', 'the client to be connected before the restart', 10_000);
        const dir = server.dir;
        await server.close();
        server = await startTestServer({ ...env, PORT: String(port) }, dir);
      }
      const entries = Array.from({ length: BATCH }, (_, i) => entry({ command: `N${b * BATCH + i}` }));
      await server.node.app.logs.log(user.userId, entries as never);
      if (cutAfter.has(b)) {
        // Cut only a live socket, so each of the 20 cuts really breaks a connection: sometimes mid-backlog,
        // sometimes while the client is joining, sometimes mid-stream.
        await sdk.until(() => sdk.client.state === 'open', 'the client to be connected before a cut', 10_000);
        if (random() < 0.5) await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5)));
        const live = [...server.node.app.hub.connections()];
        expect(live.length, `seed ${seed}`).toBeGreaterThan(0);
        for (const conn of live) conn.ws.terminate();
        await sdk.until(() => sdk.client.state !== 'open', 'the client to notice the cut');
      }
      // Let the client read between batches now and then, as a real producer would not outrun it forever.
      if (random() < 0.3) await new Promise((resolve) => setImmediate(resolve));
    }

    // The last cut may come after the last log: wait for the client to be back as well.
    await sdk.until(() => sdk.logs.length >= TOTAL && sdk.client.state === 'open', `${TOTAL} logs (seed ${seed})`, 15_000);
    // Anything sent twice would arrive right behind: one more round trip's worth of waiting.
    await new Promise((resolve) => setTimeout(resolve, 50));

    const ids = sdk.logs.map((l) => l.id);
    const firstOutOfOrder = sdk.logs.findIndex((l, i) => l.command !== `N${i}`);
    expect({ received: sdk.logs.length, distinct: new Set(ids).size, firstOutOfOrder }, `seed ${seed}`).toEqual({
      received: TOTAL,
      distinct: TOTAL,
      firstOutOfOrder: -1,
    });
    expect(sdk.all('reset'), `seed ${seed}`).toEqual([]);
    const reconnects = sdk.states.filter((s) => s.state === 'reconnecting');
    // 20 cuts (1006: no close frame) and the restart's 1001.
    expect(reconnects.filter((s) => s.code === 1006).length, `seed ${seed}`).toBeGreaterThanOrEqual(CUTS);
    expect(reconnects.some((s) => s.code === 1001), `seed ${seed}`).toBe(true);
    // Typically 5 s on SQLite and 10 s on PostgreSQL on two busy cores; the margin is for loaded CI machines.
  }, 60_000);
});
