import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobEventInput } from '../../src/protocol/log-entry.js';
import { api, entry, service, signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { refusedUpgrade, TestSocket } from '../helpers/ws-client.js';

/** What Object.prototype (and friends) look like now: every own key, and the identity of its value. */
function prototypeSnapshot(): Array<[string, Array<[string, unknown]>]> {
  return ([Object.prototype, Array.prototype, Function.prototype, String.prototype] as object[]).map((proto) => [
    String(proto.constructor.name),
    Reflect.ownKeys(proto).map((key) => {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)!;
      return [String(key), 'value' in descriptor ? descriptor.value : descriptor.get];
    }),
  ]);
}

const POLLUTERS = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"\\u005f_proto__":{"polluted":"yes"}}',
  '{"a":{"b":[{"__proto__":{"polluted":"yes"}}]}}',
];

describe('prototype pollution: no client or ingest input can alter Object.prototype', () => {
  let server: TestServer;
  let alice: TestUser;
  let before: ReturnType<typeof prototypeSnapshot>;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await signUp(server.url);
    before = prototypeSnapshot();
  });
  afterAll(() => server.close());

  const expectUnpolluted = () => {
    expect(prototypeSnapshot()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  };

  it('WebSocket frames with __proto__ / constructor keys are handled as plain data', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const merge = (polluter: string, fields: string) => `${polluter.slice(0, -1)},${fields}}`;
    for (const polluter of POLLUTERS) {
      socket.send(merge(polluter, '"type":"ping"'));
      expect(await socket.next('pong')).toEqual({ type: 'pong' });
      socket.send(merge(polluter, '"type":"subscribe","channel":"jobs"'));
      expect(await socket.next('subscribed')).toMatchObject({ channel: 'jobs' });
      socket.send(polluter);
      expect(await socket.next('error')).toEqual({ type: 'error', error: 'Invalid message format', code: 'INVALID_MESSAGE_FORMAT' });
    }
    for (const name of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']) {
      socket.send({ type: name });
      expect(await socket.next('error')).toEqual({ type: 'error', error: `Unknown message type: ${name}`, code: 'UNKNOWN_MESSAGE_TYPE' });
      socket.send({ type: 'subscribe', channel: name });
      expect(await socket.next('error')).toEqual({ type: 'error', error: `Invalid channel: ${name} (expected one of all, logs, jobs)`, code: 'INVALID_CHANNEL' });
    }
    expectUnpolluted();
    await socket.roundTrip();
    await socket.close();
  });

  it('upgrade queries naming prototype keys are refused or treated as strings', async () => {
    expect((await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, query: 'channels=__proto__' })).status).toBe(400);
    expect((await refusedUpgrade(server.wsUrl, { cookie: alice.cookie, query: 'channels=constructor' })).status).toBe(400);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie, query: 'since=__proto__' });
    await socket.close();
    expectUnpolluted();
  });

  it('POST /api/logs and /api/jobs/events refuse bodies with those keys with 400, storing nothing', async () => {
    const user = await signUp(server.url);
    const withKeyIn = (polluter: string) => [
      `${polluter.slice(0, -1)},"emailAccountId":"a","level":"info","command":"X"}`,
      JSON.stringify(entry({ data: { parsed: '__PLACEHOLDER__' } })).replace('"__PLACEHOLDER__"', polluter),
      `[${JSON.stringify(entry())},${polluter}]`,
      `{"logs":[${JSON.stringify(entry({ data: { raw: 'x', parsed: '__PLACEHOLDER__' } })).replace('"__PLACEHOLDER__"', polluter)}]}`,
    ];
    for (const polluter of POLLUTERS) {
      for (const body of withKeyIn(polluter)) {
        const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, body);
        expect(res.status, body).toBe(400);
        expect(res.body).toEqual({ code: 'VALIDATION_FAILED', error: expect.stringMatching(/^Request body contains the forbidden key "(__proto__|constructor|prototype)"$/) });
      }
      const job = await api(server.url, 'POST', '/api/jobs/events', service, `${polluter.slice(0, -1)},"userId":"${user.userId}","jobId":"j","status":"s"}`);
      expect(job.status).toBe(400);
    }
    expect((await api(server.url, 'GET', '/api/logs', { cookie: user.cookie })).body.logs).toEqual([]);
    expect((await api(server.url, 'GET', '/api/jobs', { cookie: user.cookie })).body.jobs).toEqual([]);
    expectUnpolluted();
  });

  it('query strings naming prototype keys do not reach Object.prototype', async () => {
    for (const query of ['__proto__[polluted]=yes', 'constructor[prototype][polluted]=yes', '__proto__.polluted=yes', 'userId=__proto__']) {
      const res = await api(server.url, 'GET', `/api/logs?${query}`, { cookie: alice.cookie });
      expect([200, 400, 403]).toContain(res.status);
      await api(server.url, 'GET', `/api/logs?${query}`, service);
      await api(server.url, 'DELETE', `/api/logs?${query}`, service);
    }
    expectUnpolluted();
  });

  it('the in-process producer APIs carry such keys as data at most, never into a prototype', async () => {
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    const parsed = JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}');
    await server.node.app.logs.log(user.userId, logInput({ data: { parsed } }));
    const log = await socket.next('log');
    expect(Object.getPrototypeOf(log.log.data.parsed)).toBe(Object.prototype);
    await server.node.app.jobs.publish(JSON.parse(`{"userId":"${user.userId}","jobId":"j","status":"s","__proto__":{"polluted":"yes"}}`) as JobEventInput & { userId: string });
    const job = await socket.next('job-event');
    expect(job.data).toMatchObject({ jobId: 'j', status: 's' });
    expectUnpolluted();
    await socket.close();
  });
});
