import WebSocket from 'ws';
import { SENT_AT_KEY, type SocketSpec, type TargetKind, type WorkerProgress, type WorkerReply, type WorkerRequest, monotonicMicros } from './messages.js';
import { stormArm, stormClose, stormOpen, stormVerify, stormWait } from './storm-clients.js';

/**
 * A load-generator process: holds its share of the benchmark's sockets, counts what they receive and,
 * when asked, records each message's ingest-to-receive latency. The harness forks several of these so
 * the clients never share a process (or, where it can be helped, a core) with a server.
 *
 * Every client offers permessage-deflate, as browsers do (the `ws` client's default); the servers decide.
 * Messages are counted, not parsed: the cost on this side is kept to what receiving a frame takes, the
 * same for every target. Socket.IO is spoken directly (Engine.IO v4 over a WebSocket: open packet,
 * `40` connect, `2`/`3` ping-pong, `42` events), so its clients cost what the others' do.
 */

interface SocketSet {
  sockets: Set<WebSocket>;
  received: number;
  /** Size of one delivered message, to show every target puts the same bytes on the wire. */
  messageBytes: number;
  recording: boolean;
  samples: Float64Array;
  sampleCount: number;
}

const sets = new Map<string, SocketSet>();
const SENT_AT_MARK = Buffer.from(`"${SENT_AT_KEY}":`);
const SOCKET_IO_EVENT = 0x34_32; // "42" read as a big-endian uint16
/** livetail also sends initial-jobs and others: only `log` messages count as deliveries. */
const LIVETAIL_LOG = Buffer.from('{"type":"log",');

function setFor(name: string): SocketSet {
  let set = sets.get(name);
  if (!set) {
    set = { sockets: new Set(), received: 0, messageBytes: 0, recording: false, samples: new Float64Array(1 << 16), sampleCount: 0 };
    sets.set(name, set);
  }
  return set;
}

/** The `sentAt` the harness stamped into the log, found without parsing the message. */
function sentAtOf(data: Buffer): number {
  const at = data.indexOf(SENT_AT_MARK);
  if (at < 0) return -1;
  let value = 0;
  for (let i = at + SENT_AT_MARK.length; i < data.length; i++) {
    const c = data[i]!;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

function delivered(set: SocketSet, data: Buffer): void {
  set.received++;
  if (set.messageBytes === 0) set.messageBytes = data.length;
  if (!set.recording) return;
  const sentAt = sentAtOf(data);
  if (sentAt < 0) return;
  if (set.sampleCount === set.samples.length) {
    const grown = new Float64Array(set.samples.length * 2);
    grown.set(set.samples);
    set.samples = grown;
  }
  set.samples[set.sampleCount++] = monotonicMicros() - sentAt;
}

/** Where a socket of each kind connects. */
function socketUrl(kind: TargetKind, wsBase: string, userId: string): string {
  switch (kind) {
    case 'livetail':
      return `${wsBase}/ws`;
    case 'bare-ws':
      return `${wsBase}/ws?userId=${encodeURIComponent(userId)}`;
    case 'socket.io':
      return `${wsBase}/socket.io/?EIO=4&transport=websocket&userId=${encodeURIComponent(userId)}`;
    case 'bare-express':
      throw new Error('bare-express takes no sockets');
  }
}

/** Opens one socket and resolves once it can receive application messages. */
function openOne(kind: TargetKind, set: SocketSet, baseUrl: string, origin: string, spec: SocketSpec, timeoutMs: number, localAddress?: string): Promise<void> {
  const url = socketUrl(kind, baseUrl.replace(/^http/, 'ws'), spec.userId);
  const headers: Record<string, string> = { origin };
  if (spec.cookie) headers.cookie = spec.cookie;
  const ws = new WebSocket(url, { headers, ...(localAddress ? { localAddress } : {}) });

  return new Promise<void>((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => fail(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
    const fail = (error: Error) => {
      if (ready) return;
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    const becomeReady = () => {
      ready = true;
      clearTimeout(timer);
      set.sockets.add(ws);
      resolve();
    };
    ws.on('error', (error) => fail(error));
    ws.on('unexpected-response', (_req, res) => fail(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.on('close', (code) => {
      set.sockets.delete(ws);
      fail(new Error(`closed before ready: ${code}`));
    });

    if (kind === 'bare-ws') {
      ws.on('open', becomeReady);
      ws.on('message', (data: Buffer) => delivered(set, data));
    } else if (kind === 'livetail') {
      // Connected, for livetail, is when initial-logs arrived: the server has checked the session and read the store.
      ws.on('message', (data: Buffer) => {
        if (ready) {
          if (data.compare(LIVETAIL_LOG, 0, LIVETAIL_LOG.length, 0, LIVETAIL_LOG.length) === 0) delivered(set, data);
        } else if (data.toString('utf8', 0, 22) === '{"type":"initial-logs"') becomeReady();
        else fail(new Error(`first message was not initial-logs: ${data.toString('utf8', 0, 80)}`));
      });
    } else {
      ws.on('message', (data: Buffer) => {
        if (data.length >= 2 && data.readUInt16BE(0) === SOCKET_IO_EVENT) return delivered(set, data);
        const text = data.toString('utf8', 0, 2);
        if (text === '2') ws.send('3'); // Engine.IO ping → pong
        else if (text[0] === '0') ws.send('40'); // Engine.IO open → Socket.IO connect to the main namespace
        else if (text === '40') becomeReady();
        else if (text === '44') fail(new Error(`socket.io refused the connection: ${data.toString('utf8', 0, 120)}`));
      });
    }
  });
}

/** Sockets opened from a chosen source address so far: the next takes the next address. */
let boundSockets = 0;

async function open(request: Extract<WorkerRequest, { op: 'open' }>): Promise<WorkerReply> {
  const started = performance.now();
  const set = setFor(request.set);
  let next = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const addresses = request.localAddresses ?? [];
  const lane = async () => {
    while (next < request.sockets.length) {
      const spec = request.sockets[next++]!;
      const localAddress = addresses.length > 0 ? addresses[boundSockets++ % addresses.length] : undefined;
      try {
        await openOne(request.kind, set, request.baseUrl, request.origin, spec, request.timeoutMs, localAddress);
        opened++;
      } catch (error) {
        failed++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(request.concurrency, request.sockets.length)) }, lane));
  return { op: 'open', id: request.id, opened, failed, firstError, ms: performance.now() - started };
}

async function close(request: Extract<WorkerRequest, { op: 'close' }>): Promise<WorkerReply> {
  const set = sets.get(request.set);
  if (!set) return { op: 'close', id: request.id, closed: 0 };
  const sockets = [...set.sockets];
  const closed = sockets.map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve()))));
  for (const ws of sockets) {
    if (request.terminate) ws.terminate();
    else ws.close(1000);
  }
  const timer = setTimeout(() => {
    for (const ws of sockets) ws.terminate();
  }, request.timeoutMs);
  await Promise.all(closed);
  clearTimeout(timer);
  sets.delete(request.set);
  return { op: 'close', id: request.id, closed: sockets.length };
}

function counts(): { counts: Record<string, number>; bytes: Record<string, number> } {
  const result = { counts: {} as Record<string, number>, bytes: {} as Record<string, number> };
  for (const [name, set] of sets) {
    result.counts[name] = set.received;
    result.bytes[name] = set.messageBytes;
  }
  return result;
}

function latency(request: Extract<WorkerRequest, { op: 'latency' }>): WorkerReply {
  const set = setFor(request.set);
  const samples = set.samples.slice(0, set.sampleCount);
  set.recording = request.recording;
  set.sampleCount = 0;
  return { op: 'latency', id: request.id, samples };
}

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.op) {
    case 'open':
      return open(request);
    case 'close':
      return close(request);
    case 'counts':
      return { op: 'counts', id: request.id, ...counts() };
    case 'latency':
      return latency(request);
    case 'storm-open':
      return { op: 'storm-open', id: request.id, ...(await stormOpen(request)) };
    case 'storm-arm':
      return { op: 'storm-arm', id: request.id, clients: stormArm(request.set) };
    case 'storm-wait':
      return { op: 'storm-wait', id: request.id, ...(await stormWait(request.set, request.timeoutMs)) };
    case 'storm-verify':
      return { op: 'storm-verify', id: request.id, ...stormVerify(request.set, request.expected) };
    case 'storm-close':
      return { op: 'storm-close', id: request.id, closed: await stormClose(request.set) };
  }
}

process.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (reply) => process.send?.(reply),
    (error) => process.send?.({ op: 'error', id: request.id, message: error instanceof Error ? error.message : String(error) }),
  );
});

// Progress for the harness's flow control: pushed every few milliseconds while counts move.
let lastPushed = '';
setInterval(() => {
  let total = 0;
  for (const set of sets.values()) total += set.received;
  const key = `${sets.size}:${total}`;
  if (key === lastPushed) return;
  lastPushed = key;
  process.send?.({ op: 'progress', counts: counts().counts } satisfies WorkerProgress);
}, 5).unref();

// The harness went away: so does this process, with its sockets.
process.on('disconnect', () => process.exit(0));
process.send?.({ op: 'ready' });
