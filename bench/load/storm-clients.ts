import WebSocket from 'ws';
import { Backoff } from '../../src/client/backoff.js';
import { type LivetailClient, createClient } from '../../src/client/index.js';
import { countDeliveries } from './delivery-count.js';
import { type SocketSpec, type StormCounts, type StormKind, type StormResumes, type WorkerRequest, monotonicMicros } from './messages.js';

/**
 * The reconnect storm's clients, in a load worker. livetail's are its SDK (`livetail/client`) as apps
 * use it: they reconnect with its backoff, resume after the last log they delivered (`since`) and drop
 * duplicates; each records the id of every `log` it emitted, which the harness later checks against
 * the store. The bare ws clients reconnect with the same Backoff class (full jitter, the SDK's
 * defaults), so both sides of the comparison spread their retries alike.
 */

interface StormClient {
  readonly userId: string;
  /** Ids of the logs delivered, in delivery order. */
  readonly delivered: string[];
  /** Armed: the next loss and recovery of the connection count. */
  armed: boolean;
  lost: boolean;
  resumedAt: number | undefined;
  attemptsSinceLoss: number;
  close(): Promise<void>;
}

interface StormSet {
  clients: StormClient[];
  /** Called whenever a client resumes: wakes a waiting storm-wait. */
  onResume?: () => void;
}

const sets = new Map<string, StormSet>();

function setFor(name: string): StormSet {
  let set = sets.get(name);
  if (!set) sets.set(name, (set = { clients: [] }));
  return set;
}

function stormClient(userId: string, close: () => Promise<void>): StormClient {
  return { userId, delivered: [], armed: false, lost: false, resumedAt: undefined, attemptsSinceLoss: 0, close };
}

/** Marks a client connected: ready on the first time, resumed after an armed loss. */
function connected(set: StormSet, client: StormClient): void {
  if (!client.armed || !client.lost || client.resumedAt !== undefined) return;
  client.resumedAt = monotonicMicros();
  set.onResume?.();
}

function disconnected(client: StormClient): void {
  if (client.armed) client.lost = true;
}

/** An SDK client; resolves once its first initial-logs arrived (the server checked the session and read the store). */
function sdkClient(set: StormSet, wsUrl: string, origin: string, spec: SocketSpec, onReady: () => void): StormClient {
  const sdk: LivetailClient = createClient({ url: `${wsUrl}/ws`, headers: { origin, ...(spec.cookie ? { cookie: spec.cookie } : {}) } });
  const client = stormClient(spec.userId, () => sdk.close());
  sdk.on('log', (log) => client.delivered.push(log.id));
  sdk.on('initial-logs', () => {
    onReady();
    connected(set, client);
  });
  sdk.on('state', ({ state }) => {
    if (state === 'reconnecting' || state === 'rate-limited') disconnected(client);
    else if (state === 'connecting' && client.lost) client.attemptsSinceLoss++;
  });
  sdk.on('error', () => {}); // refused and cut connections are retried by the client itself
  return client;
}

/** A bare ws socket that reconnects with the SDK's backoff; connected at `open`, as in W4. */
function bareClient(set: StormSet, wsUrl: string, origin: string, spec: SocketSpec, onReady: () => void): StormClient {
  const backoff = new Backoff();
  let ws: WebSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const client = stormClient(spec.userId, async () => {
    closed = true;
    clearTimeout(timer);
    ws?.terminate();
  });
  const connect = () => {
    if (closed) return;
    if (client.lost) client.attemptsSinceLoss++;
    const socket = new WebSocket(`${wsUrl}/ws?userId=${encodeURIComponent(spec.userId)}`, { headers: { origin } });
    ws = socket;
    socket.on('open', () => {
      backoff.opened();
      onReady();
      connected(set, client);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (closed || ws !== socket) return;
      disconnected(client);
      timer = setTimeout(connect, backoff.next());
    });
  };
  connect();
  return client;
}

export async function stormOpen(request: Extract<WorkerRequest, { op: 'storm-open' }>): Promise<{ opened: number; failed: number; firstError?: string; ms: number }> {
  const started = performance.now();
  const set = setFor(request.set);
  const wsUrl = request.baseUrl.replace(/^http/, 'ws');
  let next = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const make = request.kind === ('livetail' satisfies StormKind) ? sdkClient : bareClient;
  const lane = async () => {
    while (next < request.sockets.length) {
      const spec = request.sockets[next++]!;
      let client: StormClient | undefined;
      const ready = new Promise<void>((resolve, reject) => {
        const timeout = setTimeout(() => reject(new Error(`not connected after ${request.timeoutMs} ms`)), request.timeoutMs);
        client = make(set, wsUrl, request.origin, spec, () => {
          clearTimeout(timeout);
          resolve();
        });
      });
      try {
        await ready;
        set.clients.push(client!);
        opened++;
      } catch (error) {
        await client?.close();
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(request.concurrency, request.sockets.length)) }, lane));
  return { opened, failed, firstError, ms: performance.now() - started };
}

export function stormArm(name: string): number {
  const set = setFor(name);
  for (const client of set.clients) {
    client.armed = true;
    client.lost = false;
    client.resumedAt = undefined;
    client.attemptsSinceLoss = 0;
  }
  return set.clients.length;
}

export async function stormWait(name: string, timeoutMs: number): Promise<StormResumes> {
  const set = setFor(name);
  const done = () => set.clients.every((c) => c.resumedAt !== undefined);
  if (!done()) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      function finish() {
        clearTimeout(timer);
        set.onResume = undefined;
        resolve();
      }
      set.onResume = () => done() && finish();
    });
  }
  const resumed = set.clients.filter((c) => c.resumedAt !== undefined);
  for (const client of set.clients) client.armed = false;
  return {
    clients: set.clients.length,
    resumed: resumed.length,
    resumedAt: Float64Array.from(resumed, (c) => c.resumedAt!),
    attempts: Float64Array.from(resumed, (c) => c.attemptsSinceLoss),
  };
}

/** Every client's deliveries against its user's stored ids (oldest first): lost, doubled, not stored, out of order. */
export function stormVerify(name: string, expected: Record<string, string[]>): StormCounts {
  const counts: StormCounts = { clients: 0, lost: 0, doubled: 0, notStored: 0, outOfOrder: 0, clientsWithProblems: 0 };
  const positions = new Map<string, Map<string, number>>();
  for (const client of setFor(name).clients) {
    counts.clients++;
    const stored = expected[client.userId] ?? [];
    let position = positions.get(client.userId);
    if (!position) positions.set(client.userId, (position = new Map(stored.map((id, i) => [id, i]))));
    const { lost, doubled, notStored, outOfOrder } = countDeliveries(client.delivered, position);
    counts.lost += lost;
    counts.doubled += doubled;
    counts.notStored += notStored;
    counts.outOfOrder += outOfOrder;
    if (lost + doubled + notStored + outOfOrder > 0) {
      counts.clientsWithProblems++;
      counts.firstProblem ??= `user ${client.userId}: ${stored.length} stored, ${client.delivered.length} delivered; ${lost} lost, ${doubled} doubled, ${notStored} not stored, ${outOfOrder} out of order`;
    }
  }
  return counts;
}

export async function stormClose(name: string): Promise<number> {
  const set = sets.get(name);
  if (!set) return 0;
  sets.delete(name);
  await Promise.all(set.clients.map((c) => c.close()));
  return set.clients.length;
}
