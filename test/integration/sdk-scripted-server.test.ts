import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ClientOptions } from '../../src/client/index.js';
import { HTTP_ERRORS } from '../../src/errors.js';
import type { LogEntry, ServerMessage } from '../../src/protocol/index.js';
import {
  browserLikeWebSocket,
  type Hit,
  type Refusal,
  refusal,
  type ScriptedGateway,
  type ScriptedGatewayOptions,
  startScriptedGateway,
} from '../helpers/scripted-gateway.js';
import { recordedClient, type SdkRecorder } from '../helpers/sdk-client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The SDK against a scripted server that breaks the rules livetail keeps (it sends duplicates and
 * overlapping backlogs), over real WebSockets: the SDK's own guarantees must not depend on the server's.
 */
describe('livetail/client against a misbehaving server', () => {
  let wss: WebSocketServer | undefined;
  let client: SdkRecorder | undefined;
  afterEach(async () => {
    await client?.client.close();
    await new Promise((resolve) => wss?.close(resolve));
  });

  /** Starts a server that hands each connection and its URL to `script`. */
  const serve = async (script: (ws: WebSocket, url: URL, n: number) => void) => {
    let n = 0;
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws, req) => script(ws, new URL(req.url!, 'ws://x'), n++));
    await new Promise((resolve) => wss!.once('listening', resolve));
    return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  };
  const send = (ws: WebSocket, message: ServerMessage) => ws.send(JSON.stringify(message));
  const timestamp = new Date().toISOString();
  const log = (command: string): LogEntry => ({
    id: randomUUID(),
    timestamp,
    userId: 'u1',
    emailAccountId: 'acct',
    level: 'info',
    command,
    data: {},
  });
  const [l1, l2, l3, l4] = ['L1', 'L2', 'L3', 'L4'].map(log) as [LogEntry, LogEntry, LogEntry, LogEntry];

  it('drops logs it already delivered: repeated live logs and a backlog overlapping what it had', async () => {
    const seenSince: Array<string | null> = [];
    const url = await serve((ws, u, n) => {
      seenSince.push(u.searchParams.get('since'));
      if (n === 0) {
        send(ws, { type: 'initial-logs', logs: [l1, l2], timestamp });
        for (const l of [l2, l3, l1]) send(ws, { type: 'log', log: l, timestamp });
        ws.close(1011);
      } else {
        send(ws, { type: 'initial-logs', logs: [l2, l3, l4], truncated: false, timestamp });
      }
    });
    client = recordedClient({ url });
    await client.until(() => client!.logs.length >= 4, 'four logs');
    expect(client.commands()).toEqual(['L1', 'L2', 'L3', 'L4']);
    expect(seenSince).toEqual([null, l3.id]);
    expect(client.all('initial-logs').map((i) => i.logs.map((l) => l.command))).toEqual([['L1', 'L2'], ['L4']]);
  });

  it('after a reset, delivers the backlog that redraws the view even where it repeats earlier logs', async () => {
    const url = await serve((ws, _u, n) => {
      if (n === 0) {
        send(ws, { type: 'initial-logs', logs: [l1, l2], timestamp });
        ws.close(1011);
      } else {
        send(ws, { type: 'initial-logs', logs: [l1, l2, l3], truncated: true, timestamp });
      }
    });
    client = recordedClient({ url });
    await client.until(() => client!.logs.length >= 5, 'the redrawn view');
    expect(client.commands()).toEqual(['L1', 'L2', 'L1', 'L2', 'L3']);
    const order = client.events.map((e) => e.name).filter((name) => name !== 'state' && name !== 'log');
    expect(order).toEqual(['initial-logs', 'reset', 'initial-logs']);
    expect(client.all('initial-logs').map((i) => i.truncated)).toEqual([false, true]);
  });

  it('reports a message that is not JSON and keeps going', async () => {
    const url = await serve((ws) => {
      ws.send('{oops');
      send(ws, { type: 'initial-logs', logs: [l1], timestamp });
    });
    client = recordedClient({ url });
    await client.until(() => client!.logs.length === 1, 'L1');
    expect(client.all('error')).toEqual([{ message: 'The server sent a message that is not JSON', code: 'PROTOCOL_ERROR' }]);
  });

  it("passes an error message's catalog code on as serverCode, and none from a server that sends the seed's { type, error } only", async () => {
    const url = await serve((ws) => {
      send(ws, { type: 'initial-logs', logs: [], timestamp });
      send(ws, { type: 'error', error: 'Rate limit exceeded', code: 'RATE_LIMITED' });
      ws.send(JSON.stringify({ type: 'error', error: 'Invalid message format' }));
      send(ws, { type: 'initial-logs', logs: [l1], timestamp });
    });
    client = recordedClient({ url });
    await client.until(() => client!.logs.length === 1, 'L1');
    expect(client.all('error')).toEqual([
      { message: 'Rate limit exceeded', code: 'PROTOCOL_ERROR', serverCode: 'RATE_LIMITED' },
      { message: 'Invalid message format', code: 'PROTOCOL_ERROR' },
    ]);
  });

  it('reconnects when a server says nothing at all after a ping', async () => {
    const url = await serve(() => {}); // accepts, then never sends anything
    client = recordedClient({ url, pingIntervalMs: 30, pongTimeoutMs: 60 });
    await client.nth('reconnecting');
    expect(client.states.find((s) => s.state === 'reconnecting')).toMatchObject({ code: 1006, attempt: 1 });
  });
});

/** Longer than any retry the tests' backoff (cap 50 ms) can schedule: no attempt after it means none at all. */
const QUIET_MS = 300;
const quiet = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS));
/** What an accepting gateway sends first: the (empty) backlog. */
const sendInitialLogs = (ws: WebSocket) => ws.send(JSON.stringify({ type: 'initial-logs', logs: [], timestamp: new Date().toISOString() }));

/**
 * The SDK after an upgrade the server refused, against a scripted gateway that implements the check
 * contract (a plain GET to the same URL answers why). Each case runs twice: with `ws` as Node uses it
 * (which also tells the upgrade's status) and with a WebSocket that fails as a browser's does (1006 and
 * nothing else), where the check is all the client learns.
 */
describe.each([
  ['ws (Node)', undefined],
  ['a browser-like WebSocket', browserLikeWebSocket()],
])('livetail/client after a refused upgrade, with %s', (_flavour, WebSocketImpl) => {
  let gateway: ScriptedGateway | undefined;
  const clients: SdkRecorder[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.client.close();
    await gateway?.close();
    gateway = undefined;
  });

  const start = async (options: ScriptedGatewayOptions) => (gateway = await startScriptedGateway(options));
  const connect = (options: Partial<ClientOptions> = {}) => {
    const c = recordedClient({ url: gateway!.wsUrl, ...(WebSocketImpl ? { WebSocket: WebSocketImpl } : {}), ...options });
    clients.push(c);
    return c;
  };
  /** Refuses the first `n` upgrades, and their checks with them (the check runs the same decision). */
  const refuseFirst = (n: number, refused: Refusal) => () => (gateway!.upgrades.length <= n ? refused : undefined);

  it.each([
    ['ORIGIN_NOT_ALLOWED', 'forbidden'],
    ['SESSION_INVALID', 'unauthenticated'],
    ['UNAUTHENTICATED', 'unauthenticated'],
  ] as const)('stops after one attempt and one check when refused with %s: %s, with the reason', async (code, state) => {
    const gw = await start({ decide: () => refusal(code) });
    const headers = { cookie: 'better-auth.session_token=signed-out', origin: 'http://evil.example' };
    const c = connect({ headers, channels: ['logs'], since: 'some-log-id' });
    await c.nth(state);
    const { status, message } = HTTP_ERRORS[code];
    expect(c.states.at(-1)).toEqual({ state, code: 1006, reason: { code, message, status } });
    await quiet();
    expect(gw.upgrades).toHaveLength(1);
    expect(gw.checks).toHaveLength(1);
    expect(c.states.map((s) => s.state)).toEqual(['connecting', state]);
    expect(c.client.state).toBe(state);
    // The check asks about the very URL of the upgrade, with its headers and none of the upgrade's own.
    const [upgrade, check] = [gw.upgrades[0]!, gw.checks[0]!];
    expect(check.url).toBe(upgrade.url);
    expect(new URL(check.url, 'http://x').searchParams.get('since')).toBe('some-log-id');
    expect(check.headers).toMatchObject(headers);
    expect(check.headers.upgrade).toBeUndefined();
    expect(check.headers['sec-websocket-key']).toBeUndefined();
  });

  it('connects again on reconnect() after forbidden, resuming where it was', async () => {
    let trusted = false;
    await start({ decide: () => (trusted ? undefined : refusal('ORIGIN_NOT_ALLOWED')), onConnection: sendInitialLogs });
    const c = connect({ since: 'last-seen' });
    await c.nth('forbidden');
    trusted = true; // the operator added the origin to TRUSTED_ORIGINS
    c.client.reconnect();
    await c.nth('open');
    expect(c.states.map((s) => s.state)).toEqual(['connecting', 'forbidden', 'connecting', 'open']);
    expect(new URL(gateway!.upgrades[1]!.url, 'http://x').searchParams.get('since')).toBe('last-seen');
    expect(gateway!.checks).toHaveLength(1);
  });

  it.each(['UPGRADE_RATE_LIMITED', 'TOO_MANY_CONNECTIONS'] as const)(
    'is rate-limited by %s: waits at least Retry-After, longer than its backoff, then connects',
    async (code) => {
      const gw = await start({ decide: refuseFirst(1, refusal(code, 1)), onConnection: sendInitialLogs });
      const c = connect();
      await c.nth('rate-limited');
      const limited = c.states.at(-1)!;
      const { status, message } = HTTP_ERRORS[code];
      expect(limited).toMatchObject({ state: 'rate-limited', code: 1006, attempt: 1, reason: { code, message, status } });
      // The wait starts when the check answered, which is after the check arrived.
      expect(limited.retryAt! - gw.checks[0]!.at).toBeGreaterThanOrEqual(1000);
      await c.nth('open', 1, 10_000);
      expect(gw.upgrades).toHaveLength(2);
      expect(gw.checks).toHaveLength(1);
      expect(gw.upgrades[1]!.at - gw.checks[0]!.at).toBeGreaterThanOrEqual(1000);
      expect(c.states.map((s) => s.state)).toEqual(['connecting', 'rate-limited', 'connecting', 'open']);
    },
  );

  it('keeps reconnecting after a 503 (SHUTTING_DOWN), not before Retry-After', async () => {
    const code = 'SHUTTING_DOWN';
    const gw = await start({ decide: refuseFirst(1, refusal(code, 1)), onConnection: sendInitialLogs });
    const c = connect();
    await c.nth('open', 1, 10_000);
    const { status, message } = HTTP_ERRORS[code];
    expect(c.states[1]).toMatchObject({ state: 'reconnecting', code: 1006, reason: { code, message, status } });
    expect(gw.upgrades[1]!.at - gw.checks[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(c.states.map((s) => s.state)).toEqual(['connecting', 'reconnecting', 'connecting', 'open']);
  });

  it('keeps the normal backoff when the check says an upgrade would be accepted now', async () => {
    const gw = await start({
      // The upgrade is refused, but by the time of the check a socket of the user has closed.
      decide: (req) => (req.headers.upgrade && gateway!.upgrades.length === 1 ? refusal('TOO_MANY_CONNECTIONS', 5) : undefined),
      onConnection: sendInitialLogs,
    });
    const c = connect();
    await c.nth('open');
    expect(c.states[1]!.state).toBe('reconnecting');
    expect(c.states[1]!.reason).toBeUndefined();
    expect(c.states[1]!.retryAt! - gw.checks[0]!.at).toBeLessThan(1000);
    expect(gw.checks).toHaveLength(1);
  });

  it('closes while the check is in flight: it is abandoned, and nothing is attempted again', async () => {
    let checkAborted = false;
    const gw = await start({
      decide: () => refusal('ORIGIN_NOT_ALLOWED'),
      check: (req) => req.socket.on('close', () => (checkAborted = true)), // never answers
    });
    const c = connect();
    await waitFor(() => gw.checks.length === 1, 'the check');
    await c.client.close();
    await waitFor(() => checkAborted, 'the client to abandon the check');
    await quiet();
    expect(gw.upgrades).toHaveLength(1);
    expect(c.states.map((s) => s.state)).toEqual(['connecting', 'closed']);
  });
});

describe('livetail/client, many clients refused together', () => {
  let gateway: ScriptedGateway | undefined;
  const clients: SdkRecorder[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.client.close();
    await gateway?.close();
  });

  it('spreads the retries of many clients rate-limited together instead of bringing them back at once', async () => {
    const refused = new Set<string>();
    const gw = (gateway = await startScriptedGateway({
      decide: (req) => {
        // Each client (its `since` tells them apart) is refused once: its upgrade, then its check.
        const id = new URL(req.url!, 'http://x').searchParams.get('since')!;
        const key = `${req.headers.upgrade ? 'upgrade' : 'check'}:${id}`;
        if (refused.has(key)) return undefined;
        refused.add(key);
        return refusal('UPGRADE_RATE_LIMITED', 1);
      },
      onConnection: sendInitialLogs,
    }));
    const storm = Array.from({ length: 20 }, (_, i) => recordedClient({ url: gw.wsUrl, WebSocket: browserLikeWebSocket(), since: `client-${i}` }));
    clients.push(...storm);
    await Promise.all(storm.map((c) => c.nth('open', 1, 10_000)));
    const idOf = (hit: Hit) => new URL(hit.url, 'http://x').searchParams.get('since');
    const retries = gw.upgrades.slice(20).map((h) => h.at);
    expect(retries).toHaveLength(20);
    for (const retry of gw.upgrades.slice(20)) {
      const check = gw.checks.find((h) => idOf(h) === idOf(retry))!;
      expect(retry.at - check.at).toBeGreaterThanOrEqual(1000);
    }
    // Uniform over [1 s, 2 s): 20 clients within 300 ms of each other would be a one-in-a-billion draw.
    expect(Math.max(...retries) - Math.min(...retries)).toBeGreaterThan(300);
  });
});

describe('livetail/client when the server does not answer the check', () => {
  let gateway: ScriptedGateway | undefined;
  let client: SdkRecorder | undefined;
  afterEach(async () => {
    await client?.client.close();
    await gateway?.close();
  });

  const unknownChecks: Array<[string, (req: IncomingMessage, res: ServerResponse) => void]> = [
    ['a 404 (an app that embeds livetail without the check)', (_req, res) => res.writeHead(404).end('Cannot GET /ws')],
    ['a page that is not JSON', (_req, res) => res.writeHead(403, { 'content-type': 'text/html' }).end('<h1>Forbidden</h1>')],
    ['a 200 that is not the contract', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>')],
    ['a connection reset', (req) => req.socket.destroy()],
  ];

  it.each(unknownChecks)('in a browser, retries with the normal backoff after %s, one check per failed attempt', async (_what, check) => {
    gateway = await startScriptedGateway({
      decide: () => (gateway!.upgrades.length <= 3 ? refusal('ORIGIN_NOT_ALLOWED') : undefined),
      check,
      onConnection: sendInitialLogs,
    });
    client = recordedClient({ url: gateway.wsUrl, WebSocket: browserLikeWebSocket() });
    await client.nth('open');
    expect(client.states.map((s) => s.state)).toEqual(['connecting', 'reconnecting', 'connecting', 'reconnecting', 'connecting', 'reconnecting', 'connecting', 'open']);
    expect(client.states.filter((s) => s.state === 'reconnecting').map((s) => s.reason)).toEqual([undefined, undefined, undefined]);
    expect(gateway.upgrades).toHaveLength(4);
    expect(gateway.checks).toHaveLength(3);
  });

  it('in Node, still goes by the status the upgrade got: 403 → forbidden without a code', async () => {
    gateway = await startScriptedGateway({ decide: () => refusal('ORIGIN_NOT_ALLOWED'), check: (_req, res) => res.writeHead(404).end() });
    client = recordedClient({ url: gateway.wsUrl });
    await client.nth('forbidden');
    expect(client.states.at(-1)).toEqual({ state: 'forbidden', code: 1006, reason: { message: 'Unexpected server response: 403', status: 403 } });
    await quiet();
    expect(gateway.upgrades).toHaveLength(1);
  });

  it('in Node, does not ask when the connection itself failed (reset before any HTTP answer)', async () => {
    let connections = 0;
    const tcp = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      client = recordedClient({ url: `ws://127.0.0.1:${(tcp.address() as AddressInfo).port}/ws` });
      await client.nth('reconnecting', 2);
      // Two attempts, two connections: a check would have made four (it comes before each `reconnecting`).
      expect(connections).toBe(2);
      expect(client.all('error')[0]).toMatchObject({ code: 'SOCKET_ERROR' });
      expect(client.states.filter((s) => s.state === 'reconnecting').map((s) => s.reason)).toEqual([undefined, undefined]);
    } finally {
      await client?.client.close();
      await new Promise((resolve) => tcp.close(resolve));
    }
  });
});
