import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LivetailError } from '../../src/errors.js';
import { api, entry, service } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { counterValue } from '../helpers/metrics.js';
import { serversPerTest } from '../helpers/server.js';

/**
 * A job event the store cannot write: its data holds a BigInt, which passes validation (anything besides
 * jobId and status is carried through) but not JSON.stringify, in the store's transaction.
 */
const unstorableJob = (userId: string) => ({ userId, jobId: 'unstorable', status: 'active', attempt: 1n });

describe('group commit: one bad entry fails only its own write', () => {
  const start = serversPerTest();

  it('commits every good submission grouped with a bad one (in-process producers beside HTTP ones), and fails only the bad one', async () => {
    const server = await start();
    const { app } = server.node;
    const users = Array.from({ length: 4 }, () => randomUUID());
    const posts = Array.from({ length: 200 }, (_, i) =>
      api(server.url, 'POST', '/api/logs', service, [entry({ userId: users[i % 4], command: `HTTP-${i}` }), entry({ userId: users[(i + 1) % 4], command: `HTTP-${i}b` })]),
    );
    // While the requests arrive, bad and good in-process writes submitted in the same tick: those surely
    // share a transaction, and the HTTP requests that arrive meanwhile join it.
    const bad: Array<Promise<unknown>> = [];
    const good: Array<Promise<unknown>> = [];
    const expected = posts.flatMap((_, i) => [`HTTP-${i}`, `HTTP-${i}b`]);
    for (let round = 0; round < 20; round++) {
      good.push(app.logs.log(users[round % 4]!, logInput({ command: `BESIDE-${round}` })));
      bad.push(app.jobs.publish(unstorableJob(users[round % 4]!)).then(() => 'stored', (error: unknown) => error));
      good.push(app.logs.log(users[(round + 2) % 4]!, logInput({ command: `AFTER-${round}` })));
      expected.push(`BESIDE-${round}`, `AFTER-${round}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    const answers = await Promise.all(posts);
    expect(answers.map((a) => a.status)).toEqual(posts.map(() => 201));
    await Promise.all(good);
    for (const error of await Promise.all(bad)) {
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(LivetailError); // the store's own error, not a 503
      expect((error as Error).message).toContain('BigInt');
    }
    expect(await counterValue(app.metrics.storeWriteIsolations)).toBeGreaterThan(0);

    const stored = new Set<string>();
    for (const userId of users) for (const { log } of (await app.logs.read(userId, { from: 'seq', seq: 0, limit: 10_000 })).logs) stored.add(log.command);
    expect(stored.size).toBe(expected.length);
    for (const command of expected) expect(stored, command).toContain(command);
    for (const userId of users) expect(await app.jobs.latest(userId)).toEqual([]);
  });

  it('answers concurrent good requests 201 while a request with an unstorable user id fails alone', async () => {
    const server = await start();
    const users = Array.from({ length: 3 }, () => randomUUID());
    // The bad request's body: JSON can carry a lone surrogate as an escape, which is not text a database
    // stores as given (validation refuses it at the edge; without that, the store failed on it).
    const badBody = `[${JSON.stringify(entry({ command: 'BAD' })).replace(/^\{/, '{"userId":"\\ud800x",')}]`;
    // Large writes keep the writer busy, so the requests that arrive meanwhile are grouped.
    const busy = Array.from({ length: 3 }, () => server.node.app.logs.log(randomUUID(), Array.from({ length: 2000 }, () => logInput({ command: 'BULK' }))));
    const requests = Array.from({ length: 300 }, (_, i) =>
      i % 20 === 10 ? api(server.url, 'POST', '/api/logs', service, badBody) : api(server.url, 'POST', '/api/logs', service, [entry({ userId: users[i % 3], command: `OK-${i}` })]),
    );
    const answers = await Promise.all(requests);
    await Promise.all(busy);
    const bad = answers.filter((_, i) => i % 20 === 10);
    const good = answers.filter((_, i) => i % 20 !== 10);
    expect(good.map((a) => a.status)).toEqual(good.map(() => 201));
    // Refused at the edge (400) or by the store (500): never stored, never a 503, and alone.
    for (const answer of bad) expect([400, 500]).toContain(answer.status);
    let stored = 0;
    for (const userId of users) stored += (await server.node.app.logs.read(userId, { from: 'seq', seq: 0, limit: 1000 })).logs.length;
    expect(stored).toBe(good.length);
  });
});
