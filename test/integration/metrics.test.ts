import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, entry, signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { type TestServer, TEST_ORIGIN, startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

/** One scrape of /metrics: sample values by `name{label="value",...}` (labels sorted, the node label left out). */
type Scrape = Map<string, number>;

function parseExposition(text: string): { samples: Scrape; nodes: Set<string> } {
  const samples: Scrape = new Map();
  const nodes = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: string[] = [];
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      if (key === 'node') nodes.add(value!);
      else labels.push(`${key}="${value}"`);
    }
    samples.set(`${match[1]}{${labels.sort().join(',')}}`, Number(match[3]));
  }
  return { samples, nodes };
}

type Labels = Record<string, string>;

const key = (name: string, labels: Labels = {}) => `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;

/** A sample's value in a scrape; 0 for a series that does not exist yet (never incremented). */
const valueIn = (scrape: Scrape, name: string, labels: Labels = {}) => scrape.get(key(name, labels)) ?? 0;

/** How much each series moved between two scrapes. */
const deltaBetween = (before: Scrape, after: Scrape) => (name: string, labels: Labels = {}) => valueIn(after, name, labels) - valueIn(before, name, labels);

describe('GET /metrics', () => {
  let server: TestServer;
  let scrapeText: () => Promise<string>;
  let scrape: () => Promise<Scrape>;

  beforeAll(async () => {
    server = await startTestServer({
      MAX_SOCKETS_PER_USER: '2',
      RATE_LIMIT_PER_SECOND: '5',
      RATE_LIMIT_BURST: '10',
      // Every session check reaches better-auth, so the histogram counts each one.
      SESSION_CACHE_TTL_MS: '0',
      MAX_BUFFERED_BYTES: '65536',
      NODE_ID: 'metrics-test-node',
    });
    scrapeText = async () => {
      const res = await fetch(`${server.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    scrape = async () => parseExposition(await scrapeText()).samples;
  });
  afterAll(() => server.close());

  /** Scrapes until the series has moved past its value in `before`. */
  function scrapeWhenMoved(before: Scrape, name: string, labels: Labels = {}): Promise<Scrape> {
    return scrapeWhen((s) => valueIn(s, name, labels) > valueIn(before, name, labels));
  }

  /** Scrapes until `ready` holds: the server counts a close when its side of the socket ends, a moment after the client's. */
  async function scrapeWhen(ready: (s: Scrape) => boolean): Promise<Scrape> {
    let last: Scrape | undefined;
    await waitFor(async () => ready((last = await scrape())), 'the metrics to reach the expected state', 5000, 20);
    return last!;
  }

  it('exports default process metrics and labels every series with the node id', async () => {
    const { samples, nodes } = parseExposition(await scrapeText());
    expect([...nodes]).toEqual(['metrics-test-node']);
    expect(valueIn(samples, 'livetail_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueIn(samples, 'livetail_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(samples.has(key('livetail_process_resident_memory_bytes'))).toBe(true);
    for (const name of samples.keys()) expect(name).toMatch(/^livetail_/);
  });

  it('counts a scripted session exactly', async () => {
    const alice = await signUp(server.url);
    const before = await scrape();

    // Three refused upgrades, one per reason.
    expect((await refusedUpgrade(server.wsUrl)).status).toBe(401);
    expect((await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, origin: 'http://evil.example' })).status).toBe(403);
    const a1 = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const a2 = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie, origin: TEST_ORIGIN });
    expect((await refusedUpgrade(server.wsUrl, { cookie: alice.cookie })).status).toBe(429);
    await a1.next('initial-jobs');
    await a2.next('initial-jobs');

    // Client messages: two valid, two answered with protocol errors.
    a1.send({ type: 'subscribe', channel: 'jobs' });
    await a1.next('subscribed');
    a1.send('not json');
    a1.send({ type: 'no-such-type' });
    await a1.until('error', 2);
    await a1.roundTrip();

    // Ingest: two stored, one under REALTIME_LOG_LEVEL (info) dropped, then a batch refused whole.
    const stored = await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, [
      entry({ command: 'M1' }),
      entry({ command: 'M2' }),
      entry({ command: 'M3', level: 'debug' }),
    ]);
    expect(stored.body.logs).toHaveLength(2);
    const refused = await api(server.url, 'POST', '/api/logs', { cookie: alice.cookie }, [entry(), entry({ level: 'loud' }), entry()]);
    expect(refused.status).toBe(400);
    expect((await api(server.url, 'POST', '/api/jobs/events', { cookie: alice.cookie }, { jobId: 'j1', status: 'active' })).status).toBe(201);
    for (const socket of [a1, a2]) {
      await socket.until('log', 2);
      await socket.next('job-event');
    }

    expect(valueIn(await scrape(), 'livetail_sockets_open')).toBe(2);

    // A normal close by the client (1000); TestSocket.close() would send none (1005).
    for (const socket of [a1, a2]) {
      socket.ws.close(1000, 'done');
      await socket.closed;
    }
    const after = await scrapeWhen((s) => valueIn(s, 'livetail_sockets_open') === 0);
    const delta = deltaBetween(before, after);

    const expected: Array<[string, Record<string, string>, number]> = [
      ['livetail_connects_total', {}, 2],
      ['livetail_upgrade_rejections_total', { status: '401', code: 'SESSION_INVALID' }, 1],
      ['livetail_upgrade_rejections_total', { status: '403', code: 'ORIGIN_NOT_ALLOWED' }, 1],
      ['livetail_upgrade_rejections_total', { status: '429', code: 'TOO_MANY_CONNECTIONS' }, 1],
      ['livetail_socket_closes_total', { code: '1000' }, 2],
      ['livetail_messages_received_total', { type: 'subscribe' }, 1],
      ['livetail_messages_received_total', { type: 'ping' }, 1],
      ['livetail_messages_received_total', { type: 'invalid' }, 1],
      ['livetail_messages_received_total', { type: 'unknown' }, 1],
      ['livetail_protocol_errors_total', { kind: 'INVALID_MESSAGE_FORMAT' }, 1],
      ['livetail_protocol_errors_total', { kind: 'UNKNOWN_MESSAGE_TYPE' }, 1],
      ['livetail_messages_sent_total', { type: 'initial-logs' }, 2],
      ['livetail_messages_sent_total', { type: 'initial-jobs' }, 2],
      ['livetail_messages_sent_total', { type: 'subscribed' }, 1],
      ['livetail_messages_sent_total', { type: 'error' }, 2],
      ['livetail_messages_sent_total', { type: 'pong' }, 1],
      ['livetail_messages_sent_total', { type: 'log' }, 4],
      ['livetail_messages_sent_total', { type: 'job-event' }, 2],
      ['livetail_logs_ingested_total', {}, 2],
      ['livetail_logs_dropped_total', { reason: 'level' }, 1],
      ['livetail_logs_dropped_total', { reason: 'validation' }, 3],
      ['livetail_job_events_total', { source: 'api' }, 1],
      // One transaction per request: the two logs together, then the job event.
      ['livetail_store_write_batches_total', {}, 2],
      ['livetail_store_write_duration_seconds_count', {}, 2],
      ['livetail_store_write_ops_sum', {}, 3],
      ['livetail_bus_published_total', { type: 'log' }, 2],
      ['livetail_bus_published_total', { type: 'job-event' }, 1],
      ['livetail_bus_received_total', { type: 'log' }, 2],
      ['livetail_bus_received_total', { type: 'job-event' }, 1],
      ['livetail_bus_lag_seconds_count', {}, 2],
      // One observation per log, when it reached its last socket.
      ['livetail_fanout_latency_seconds_count', {}, 2],
      // Three upgrades with a cookie (the 403 is refused before the session is looked at) and three API calls.
      ['livetail_session_check_duration_seconds_count', {}, 6],
      ['livetail_store_write_errors_total', {}, 0],
      ['livetail_rate_limit_disconnects_total', {}, 0],
      ['livetail_slow_consumer_disconnects_total', {}, 0],
    ];
    const actual = expected.map(([name, labels]) => [name, labels, delta(name, labels)]);
    expect(actual).toEqual(expected);
    // Latencies on loopback are small; the histogram's sum is in seconds.
    expect(delta('livetail_fanout_latency_seconds_sum')).toBeLessThan(1);
  });

  it('counts a rate-limit disconnect', async () => {
    const bob = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: bob.cookie });
    await socket.next('initial-jobs');
    const before = await scrape();
    for (let i = 0; i < 40; i++) socket.send({ type: 'ping' });
    expect((await socket.closed).code).toBe(1008);
    const delta = deltaBetween(before, await scrapeWhenMoved(before, 'livetail_socket_closes_total', { code: '1008' }));
    expect(delta('livetail_rate_limit_disconnects_total')).toBe(1);
    expect(delta('livetail_socket_closes_total', { code: '1008' })).toBe(1);
    expect(delta('livetail_protocol_errors_total', { kind: 'RATE_LIMITED' })).toBe(1);
    // The burst (10) passed; then one warning, then a second's worth (5) more drops closed the socket.
    expect(delta('livetail_messages_received_total', { type: 'ping' })).toBeGreaterThanOrEqual(10);
    expect(delta('livetail_messages_received_total', { type: 'rate-limited' })).toBeGreaterThanOrEqual(6);
  });

  it('counts a slow-consumer disconnect', async () => {
    const carol: TestUser = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: carol.cookie });
    await socket.next('initial-jobs');
    const before = await scrape();
    socket.ws.pause(); // stop reading: the server's buffer for this socket fills
    const big = 'x'.repeat(200 * 1024);
    // 12 MB, more than the loopback socket buffers absorb, so ws's own buffer passes MAX_BUFFERED_BYTES.
    for (let i = 0; i < 6; i++) {
      await server.node.app.logs.log(carol.userId, Array.from({ length: 10 }, () => logInput({ data: { raw: big } })));
    }
    const delta = deltaBetween(before, await scrapeWhenMoved(before, 'livetail_slow_consumer_disconnects_total'));
    socket.ws.resume();
    await socket.closed;
    expect(delta('livetail_slow_consumer_disconnects_total')).toBe(1);
    expect(delta('livetail_logs_ingested_total')).toBe(60);
    const closed = deltaBetween(before, await scrapeWhenMoved(before, 'livetail_socket_closes_total', { code: '1013' }));
    expect(closed('livetail_socket_closes_total', { code: '1013' })).toBe(1);
  });
});
