import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Publisher, type PublisherError, type PublisherEvents, type PublisherOptions, createPublisher } from '../../src/publisher/index.js';
import { ScriptedServer, deferred } from '../helpers/scripted-http.js';
import { waitFor } from '../helpers/wait.js';

/** A publisher against a scripted server: its events recorded, and its sleeps recorded and skipped (no test waits seconds). */
function recordedPublisher(server: ScriptedServer, options: Partial<PublisherOptions> = {}) {
  const sleeps: number[] = [];
  const events: { [K in keyof PublisherEvents]: Array<PublisherEvents[K]> } = { sent: [], retry: [], dropped: [], error: [] };
  const publisher = createPublisher({
    url: server.url,
    token: 'scripted-token-0123456789',
    flushIntervalMs: 1,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...options,
  });
  for (const name of ['sent', 'retry', 'dropped', 'error'] as const) {
    publisher.on(name, ((payload: never) => events[name].push(payload)) as never);
  }
  return { publisher, sleeps, events };
}

const log = (command: string) => ({ userId: 'u1', emailAccountId: 'acct', level: 'info' as const, command, data: { duration: 1 } });

describe('Publisher against a scripted server', () => {
  let server: ScriptedServer;
  const publishers: Publisher[] = [];
  beforeEach(async () => {
    server = await ScriptedServer.start();
  });
  afterEach(async () => {
    for (const p of publishers.splice(0)) await p.close();
    await server.close();
  });
  const make = (options: Partial<PublisherOptions> = {}) => {
    const made = recordedPublisher(server, options);
    publishers.push(made.publisher);
    return made;
  };

  describe('retries', () => {
    it('waits out Retry-After on a 503 and sends the same batch again with the same Idempotency-Key', async () => {
      const { publisher, sleeps, events } = make();
      server.answer({ status: 503, headers: { 'retry-after': '2' }, body: { error: 'shutting down', code: 'SHUTTING_DOWN' } });
      publisher.publish(log('A'));
      publisher.publish(log('B'));
      await publisher.flush();
      expect(server.requests).toHaveLength(2);
      const [first, retry] = server.requests;
      expect(retry!.body).toBe(first!.body);
      expect(first!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
      expect(retry!.headers['idempotency-key']).toBe(first!.headers['idempotency-key']);
      expect(first!.headers.authorization).toBe('Bearer scripted-token-0123456789');
      // Retry-After is 2 s; the backoff's own draw (0.5 × 100 ms) is shorter, so the wait is Retry-After's.
      expect(sleeps).toEqual([2000]);
      expect(events.retry).toEqual([{ count: 2, attempt: 1, delayMs: 2000, reason: 'HTTP 503', status: 503 }]);
      expect(events.sent).toHaveLength(1);
      expect(events.sent[0]).toMatchObject({ count: 2, attempts: 2, status: 201 });
      expect(publisher.stats).toMatchObject({ published: 2, sent: 2, failed: 0, retries: 1 });
    });

    it('gives each new batch a fresh Idempotency-Key', async () => {
      const { publisher } = make();
      publisher.publish(log('A'));
      await publisher.flush();
      publisher.publish(log('B'));
      await publisher.flush();
      const keys = server.requests.map((r) => r.headers['idempotency-key']);
      expect(keys).toHaveLength(2);
      expect(keys[0]).not.toBe(keys[1]);
    });

    it('honours Retry-After given as an HTTP date', async () => {
      const { publisher, sleeps } = make();
      server.answer({ status: 429, headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() } });
      publisher.publish(log('A'));
      await publisher.flush();
      expect(server.requests).toHaveLength(2);
      // An HTTP date has whole seconds: 29–30 s from now.
      expect(sleeps[0]).toBeGreaterThan(28_000);
      expect(sleeps[0]).toBeLessThanOrEqual(30_000);
    });

    it('backs off with full jitter on 500, 429 and connection resets, doubling the ceiling each attempt', async () => {
      const draws = [0.5, 0.5, 0.5, 0.999];
      const { publisher, sleeps, events } = make({ random: () => draws.shift() ?? 0, retry: { baseMs: 100, capMs: 10_000 } });
      server.answer({ status: 500 }, { status: 429 }, { reset: true }, { status: 502 });
      publisher.publish(log('A'));
      await publisher.flush();
      expect(server.requests).toHaveLength(5);
      // Ceilings 100, 200, 400, 800 ms; each delay a draw in [0, ceiling).
      expect(sleeps).toEqual([50, 100, 200, 799]);
      expect(events.retry.map((r) => r.reason)).toEqual(['HTTP 500', 'HTTP 429', expect.stringMatching(/ECONNRESET|other side closed|socket/i), 'HTTP 502']);
      expect(new Set(server.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
      expect(events.sent).toHaveLength(1);
    });

    it.each([400, 401, 403, 404, 422])('never retries a %i: the batch fails with the server answer', async (status) => {
      const { publisher, events } = make();
      const answer = { error: 'no', code: 'SOMETHING' };
      server.answer({ status, body: answer });
      publisher.publish(log('A'));
      publisher.publish(log('B'));
      await publisher.flush();
      expect(server.requests).toHaveLength(1);
      expect(events.error).toHaveLength(1);
      const error = events.error[0]!;
      expect(error).toMatchObject({ code: 'REFUSED', count: 2, status });
      expect(JSON.parse(error.body!)).toEqual(answer);
      expect(publisher.stats).toMatchObject({ sent: 0, failed: 2, retries: 0 });
    });

    it('gives up after maxAttempts, reporting the last answer', async () => {
      const { publisher, events } = make({ maxAttempts: 3 });
      server.answer({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
      publisher.publish(log('A'));
      await publisher.flush();
      expect(server.requests).toHaveLength(3);
      expect(events.error.map((e) => [e.code, e.status, e.details.attempts])).toEqual([['GAVE_UP', 503, 3]]);
      expect(publisher.stats.failed).toBe(1);
    });

    it('gives up once retrying would pass giveUpAfterMs', async () => {
      let now = 0;
      const { publisher, events } = make({
        now: () => now,
        giveUpAfterMs: 5000,
        sleep: async (ms) => {
          now += ms;
        },
      });
      server.answer(...Array.from({ length: 10 }, () => ({ status: 503, headers: { 'retry-after': '2' } })));
      publisher.publish(log('A'));
      await publisher.flush();
      // Waits of 2 s at 0 and 2 s; a third would end at 6 s, past 5 s.
      expect(server.requests).toHaveLength(3);
      expect(events.error[0]).toMatchObject({ code: 'GAVE_UP' });
    });
  });

  describe('what a 4xx names', () => {
    it('fails only the entries a 400 names and sends the rest again, with a new key', async () => {
      const { publisher, events } = make();
      server.answer({
        status: 400,
        body: { error: 'Invalid log entries', code: 'VALIDATION_FAILED', details: [{ path: [1, 'command'], message: 'Too big', code: 'too_big' }] },
      });
      for (const c of ['A', 'B', 'C']) publisher.publish(log(c));
      await publisher.flush();
      expect(server.requests.map((r) => r.logs.map((l) => l.command))).toEqual([['A', 'B', 'C'], ['A', 'C']]);
      expect(server.requests[1]!.headers['idempotency-key']).not.toBe(server.requests[0]!.headers['idempotency-key']);
      expect(events.error.map((e) => [e.code, e.count, e.status])).toEqual([['REFUSED', 1, 400]]);
      expect(publisher.stats).toMatchObject({ sent: 2, failed: 1 });
    });

    it('splits a batch the server finds too large (413) until it fits', async () => {
      const { publisher, events } = make({ flushIntervalMs: 1000 });
      server.answer({ status: 413, body: { code: 'BATCH_TOO_LARGE' } }, { status: 413, body: { code: 'BATCH_TOO_LARGE' } });
      for (const c of ['A', 'B', 'C', 'D']) publisher.publish(log(c));
      await publisher.flush();
      expect(server.requests.map((r) => r.logs.map((l) => l.command).join(''))).toEqual(['ABCD', 'AB', 'A', 'B', 'CD']);
      expect(events.sent.map((s) => s.count)).toEqual([1, 1, 2]);
      expect(events.error).toEqual([]);
    });
  });

  describe('a bounded queue', () => {
    it('drops the oldest waiting entries when full, counting them, and never blocks publish()', async () => {
      const { publisher, events } = make({ maxBatchEntries: 2, maxQueueEntries: 3 });
      const release = deferred<{ status: number }>();
      server.answer({ hold: release.promise });
      publisher.publish(log('A'));
      publisher.publish(log('B'));
      await server.untilRequests(1); // A and B in flight, held by the server
      const started = performance.now();
      for (const c of ['C', 'D', 'E', 'F', 'G']) expect(publisher.publish(log(c))).toBe(true);
      expect(performance.now() - started).toBeLessThan(1000); // generous: publish() only queues
      // The queue holds 3: C and D were dropped for F and G.
      expect(events.dropped).toEqual([
        { count: 1, reason: 'queue-full', total: 1 },
        { count: 1, reason: 'queue-full', total: 2 },
      ]);
      expect(publisher.dropped).toBe(2);
      expect(publisher.stats).toMatchObject({ queued: 3, dropped: 2 });
      release.resolve({ status: 201 });
      await publisher.flush();
      expect(server.commands()).toEqual(['A', 'B', 'E', 'F', 'G']);
      expect(publisher.stats).toMatchObject({ published: 7, sent: 5, dropped: 2, queued: 0 });
    });

    it('bounds the queue by bytes as well', async () => {
      const one = Buffer.byteLength(JSON.stringify(log('A')));
      const { publisher, events } = make({ maxBatchEntries: 1, maxBatchBytes: one, maxQueueBytes: one * 2 });
      const release = deferred<{ status: number }>();
      server.answer({ hold: release.promise });
      publisher.publish(log('A'));
      await server.untilRequests(1);
      for (const c of ['B', 'C', 'D']) publisher.publish(log(c));
      expect(events.dropped.map((d) => d.count)).toEqual([1]);
      release.resolve({ status: 201 });
      await publisher.flush();
      expect(server.commands()).toEqual(['A', 'C', 'D']);
    });
  });

  describe('publish()', () => {
    it('refuses what it cannot send with false and an error event, never an exception', () => {
      const { publisher, events } = make({ maxBatchBytes: 1024 });
      const circular: Record<string, unknown> = { ...log('A') };
      circular.self = circular;
      expect(publisher.publish(circular as never)).toBe(false);
      expect(publisher.publish(null as never)).toBe(false);
      expect(publisher.publish({ ...log('A'), userId: undefined } as never)).toBe(false);
      expect(publisher.publish({ ...log('A'), data: { raw: 'x'.repeat(2000) } })).toBe(false);
      expect(events.error.map((e: PublisherError) => e.code)).toEqual(['INVALID_ENTRY', 'INVALID_ENTRY', 'INVALID_ENTRY', 'ENTRY_TOO_LARGE']);
      expect(publisher.stats).toMatchObject({ published: 0, rejected: 4 });
    });

    it('refuses bad options with an error naming them', () => {
      expect(() => createPublisher({ url: 'not a url' })).toThrow(/url "not a url" is not a URL/);
      expect(() => createPublisher({ url: 'ftp://x' })).toThrow(/http:\/\/ or https:\/\//);
      expect(() => createPublisher({ url: server.url, maxBatchEntries: 0 })).toThrow(/maxBatchEntries must be a positive integer/);
      expect(() => createPublisher({ url: server.url, flushIntervalMs: -1 })).toThrow(/flushIntervalMs/);
      expect(() => createPublisher({ url: server.url, maxBatchEntries: 50, maxQueueEntries: 10 })).toThrow(/maxQueueEntries must be at least maxBatchEntries/);
      expect(() => createPublisher({ url: server.url, retry: { baseMs: 0 } })).toThrow(/baseMs > 0/);
    });

    it('posts to the base path the server is mounted under', async () => {
      const { publisher } = make({ url: `${server.url}/livetail/` });
      publisher.publish(log('A'));
      await publisher.flush();
      expect(server.requests[0]!.url).toBe('/livetail/api/logs');
    });
  });

  describe('close()', () => {
    it('delivers what is queued, then refuses new entries; a second close() is the same promise', async () => {
      const { publisher, events } = make({ flushIntervalMs: 60_000 });
      for (const c of ['A', 'B', 'C']) publisher.publish(log(c));
      expect(server.requests).toHaveLength(0);
      const closing = publisher.close();
      expect(publisher.close()).toBe(closing);
      await closing;
      expect(server.commands()).toEqual(['A', 'B', 'C']);
      expect(publisher.publish(log('D'))).toBe(false);
      expect(events.error.map((e) => e.code)).toEqual(['CLOSED']);
    });

    it('gives up at its deadline: what is still unsent is dropped and counted', async () => {
      const { publisher, events } = make({ closeTimeoutMs: 100, maxBatchEntries: 2, sleep: undefined });
      server.answer({ hold: new Promise(() => {}) }); // the first POST is never answered
      for (const c of ['A', 'B', 'C']) publisher.publish(log(c));
      await server.untilRequests(1);
      const started = performance.now();
      await publisher.close();
      expect(performance.now() - started).toBeLessThan(5000);
      expect(events.dropped.reduce((n, d) => n + d.count, 0)).toBe(3);
      expect(events.dropped.every((d) => d.reason === 'close')).toBe(true);
      expect(publisher.stats).toMatchObject({ sent: 0, dropped: 3, queued: 0 });
    });

    it('cuts a retry wait short at the deadline', async () => {
      const { publisher, events } = make({ closeTimeoutMs: 100, sleep: undefined });
      server.answer({ status: 503, headers: { 'retry-after': '30' } });
      publisher.publish(log('A'));
      await server.untilRequests(1);
      await waitFor(() => events.retry.length === 1, 'the retry');
      const started = performance.now();
      await publisher.close();
      expect(performance.now() - started).toBeLessThan(5000);
      expect(events.dropped).toEqual([{ count: 1, reason: 'close', total: 1 }]);
      expect(server.requests).toHaveLength(1);
    });
  });
});
