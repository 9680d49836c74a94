import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { Gateway, type GatewayOptions } from '../../src/gateway/gateway.js';
import type { Connection } from '../../src/gateway/connection.js';
import type { Hub, JoinFrom } from '../../src/gateway/hub.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { Sessions } from '../../src/sessions/sessions.js';
import { FakeSessionResolver } from '../helpers/fake-session-resolver.js';
import { waitFor } from '../helpers/wait.js';
import { TestSocket, refusedUpgrade } from '../helpers/ws-client.js';

/**
 * The gateway's admission through its public methods only, with no better-auth and no database: sessions
 * come from FakeSessionResolver, the hub is a stand-in that records who it was handed, and the sockets
 * are real ws sockets on a bare http.Server.
 */

const ORIGIN = 'http://app.test';
const ALICE = 'session=alice';

/** Records the sockets the gateway hands over, as the hub would take them. */
class RecordingHub {
  readonly joined: Array<{ userId: string; from: JoinFrom }> = [];
  /** Sockets per user the hub says it holds (the gateway's MAX_SOCKETS_PER_USER check reads this). */
  readonly held = new Map<string, number>();
  private readonly conns = new Set<Connection>();

  socketCount(userId?: string): number {
    if (userId === undefined) return this.conns.size;
    return (this.held.get(userId) ?? 0) + [...this.conns].filter((c) => c.userId === userId).length;
  }

  async join(conn: Connection, from: JoinFrom): Promise<void> {
    this.conns.add(conn);
    this.joined.push({ userId: conn.userId, from });
  }

  leave(conn: Connection): void {
    this.conns.delete(conn);
  }

  connections(): IterableIterator<Connection> {
    return this.conns.values();
  }
}

interface Rig {
  gateway: Gateway;
  hub: RecordingHub;
  resolver: FakeSessionResolver;
  sessions: Sessions;
  wsUrl: string;
  url: string;
  /** Upgrade paths the gateway returned false for (another listener's). */
  othersUpgrades: string[];
}

const rigs: Array<{ gateway: Gateway; sessions: Sessions; server: http.Server }> = [];
afterEach(async () => {
  for (const { gateway, sessions, server } of rigs.splice(0)) {
    await gateway.close(500);
    sessions.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
});

async function rig(options: Partial<GatewayOptions> = {}): Promise<Rig> {
  const resolver = new FakeSessionResolver();
  resolver.add(ALICE, { userId: 'alice', sessionId: 's-alice' });
  const logger = pino({ level: 'silent' });
  const sessions = new Sessions({ resolver, broadcast: async () => {}, barrier: async () => {}, logger }, { cacheTtlMs: 0, recheckIntervalMs: 0 });
  const hub = new RecordingHub();
  const gateway = new Gateway(
    { hub: hub as unknown as Hub, sessions, metrics: createMetrics('gateway-test'), logger, clearLogs: async () => {} },
    {
      path: '/ws',
      trustedOrigins: [ORIGIN],
      trustProxy: false,
      heartbeatIntervalMs: 60_000,
      maxMessageBytes: 65_536,
      maxBufferedBytes: 4 * 1024 * 1024,
      maxSocketsPerUser: 5,
      rateLimitPerSecond: 100,
      rateLimitBurst: 100,
      upgradeRateLimit: 1000,
      upgradeRateWindowMs: 60_000,
      perMessageDeflate: false,
      ...options,
    },
  );
  const othersUpgrades: string[] = [];
  const server = http.createServer((req, res) => {
    if (!gateway.handleRequest(req, res)) res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    if (gateway.handleUpgrade(req, socket, head)) return;
    othersUpgrades.push(req.url ?? '');
    socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rigs.push({ gateway, sessions, server });
  const { port } = server.address() as AddressInfo;
  return { gateway, hub, resolver, sessions, wsUrl: `ws://127.0.0.1:${port}/ws`, url: `http://127.0.0.1:${port}`, othersUpgrades };
}

const alice = { cookie: ALICE, origin: ORIGIN };

describe('Gateway', () => {
  describe('#handleUpgrade', () => {
    it('takes an upgrade with a session to the hub, with its resume position', async () => {
      const { hub, wsUrl } = await rig();
      const socket = await TestSocket.open(wsUrl, { ...alice, query: 'since=log-7' });
      await waitFor(() => hub.joined.length === 1, 'the join');
      expect(hub.joined).toEqual([{ userId: 'alice', from: { since: 'log-7' } }]);
      await socket.close();
    });

    it('returns false for another path and leaves its socket to the next listener, unchecked', async () => {
      const { wsUrl, resolver, othersUpgrades } = await rig();
      const other = wsUrl.replace('/ws', '/other-ws');
      await expect(TestSocket.open(other, alice)).rejects.toMatchObject({ status: 418 });
      expect(othersUpgrades).toEqual(['/other-ws']);
      expect(resolver.checks).toBe(0);
    });

    it('refuses while draining before any other check (503, no session check)', async () => {
      const { gateway, wsUrl, resolver } = await rig();
      gateway.drain();
      expect(await refusedUpgrade(wsUrl, { origin: 'http://elsewhere.test' })).toMatchObject({ status: 503, body: { code: 'SHUTTING_DOWN' } });
      expect(resolver.checks).toBe(0);
    });

    it('checks Origin before counting the attempt against its address', async () => {
      const { hub, wsUrl } = await rig({ upgradeRateLimit: 1 });
      for (let i = 0; i < 3; i++) {
        expect(await refusedUpgrade(wsUrl, { cookie: ALICE, origin: 'http://elsewhere.test' })).toMatchObject({ status: 403, body: { code: 'ORIGIN_NOT_ALLOWED' } });
      }
      const socket = await TestSocket.open(wsUrl, alice); // the one attempt the address may make
      await waitFor(() => hub.joined.length === 1, 'the join');
      expect(await refusedUpgrade(wsUrl, alice)).toMatchObject({ status: 429, body: { code: 'UPGRADE_RATE_LIMITED' } });
      await socket.close();
    });

    it('counts the attempt before reading the query, and both come before the session check', async () => {
      const { wsUrl, resolver } = await rig({ upgradeRateLimit: 1 });
      expect(await refusedUpgrade(wsUrl, { ...alice, query: 'channels=nope' })).toMatchObject({ status: 400, body: { code: 'INVALID_QUERY' } });
      expect(await refusedUpgrade(wsUrl, { ...alice, query: 'channels=nope' })).toMatchObject({ status: 429, body: { code: 'UPGRADE_RATE_LIMITED' } });
      expect(resolver.checks).toBe(0);
    });

    it('answers 401 without a session and 503 when the session source cannot tell', async () => {
      const { wsUrl, resolver } = await rig();
      expect(await refusedUpgrade(wsUrl, { cookie: 'session=nobody', origin: ORIGIN })).toMatchObject({ status: 401, body: { code: 'SESSION_INVALID' } });
      resolver.down = true;
      expect(await refusedUpgrade(wsUrl, alice)).toMatchObject({ status: 503, body: { code: 'STORE_UNAVAILABLE' } });
      expect(resolver.checks).toBe(2);
    });

    it('checks the sockets per user last, after the session', async () => {
      const { hub, wsUrl, resolver } = await rig({ maxSocketsPerUser: 2 });
      hub.held.set('alice', 2);
      expect(await refusedUpgrade(wsUrl, alice)).toMatchObject({ status: 429, body: { code: 'TOO_MANY_CONNECTIONS' } });
      expect(resolver.checks).toBe(1);
      expect(hub.joined).toEqual([]);
    });

    it('checks draining again after a slow session check: an upgrade admitted during shutdown is refused', async () => {
      const { gateway, hub, wsUrl, resolver } = await rig();
      resolver.hold();
      const refused = refusedUpgrade(wsUrl, alice);
      await waitFor(() => resolver.waiting === 1, 'the held check');
      gateway.drain();
      resolver.release();
      expect(await refused).toMatchObject({ status: 503, body: { code: 'SHUTTING_DOWN' } });
      expect(hub.joined).toEqual([]);
    });

    it('has Sessions track the socket: ending its session closes it with 4401', async () => {
      const { sessions, wsUrl, hub } = await rig();
      const socket = await TestSocket.open(wsUrl, alice);
      await waitFor(() => hub.joined.length === 1, 'the join');
      expect(await sessions.end({ sessionId: 's-alice' })).toBe(1);
      expect((await socket.closed).code).toBe(CLOSE_CODES.SESSION_ENDED);
    });
  });

  describe('#handleRequest (the connect check)', () => {
    it('answers a plain GET on the path with what an upgrade would get, and nothing else', async () => {
      const { url, resolver } = await rig();
      const check = (headers: Record<string, string>, path = '/ws') => fetch(`${url}${path}`, { headers });
      const ok = await check(alice);
      expect([ok.status, await ok.json()]).toEqual([200, { ok: true }]);
      const noSession = await check({ origin: ORIGIN });
      expect([noSession.status, (await noSession.json()).code]).toEqual([401, 'SESSION_INVALID']);
      const badOrigin = await check({ cookie: ALICE, origin: 'http://elsewhere.test' });
      expect([badOrigin.status, (await badOrigin.json()).code]).toEqual([403, 'ORIGIN_NOT_ALLOWED']);
      expect((await check(alice, '/elsewhere')).status).toBe(404);
      expect((await fetch(`${url}/ws`, { method: 'POST', headers: alice })).status).toBe(404);
      expect(resolver.checks).toBe(1);
    });
  });
});
