import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { clientMessageSchema, type ServerMessage } from '../../src/protocol/index.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

const MAX_MESSAGE_BYTES = 16 * 1024; // small, so that "huge" frames are cheap to generate
const RUNS = 500; // of 1 to 10 frames each, cut at a closing frame: about 2,000 frames

/** A frame as the fuzzer sends it. */
interface Frame {
  binary: boolean;
  bytes: Buffer;
}

/** What the server must answer a frame with. */
type Expected = { close: number } | { reply: 'error' | 'pong' | 'subscribed' | 'unsubscribed' };

/** The error texts of PROTOCOL_ERRORS: every refusal must be one of them. */
const PROTOCOL_ERROR_TEXT = /^(Invalid message format|Unknown message type: .*|Invalid channel: .* \(expected one of all, logs, jobs\)|(subscribe|unsubscribe) needs a channel: one of all, logs, jobs)$/s;

const text = (s: string): Frame => ({ binary: false, bytes: Buffer.from(s) });

/** A JSON object written by hand, so keys such as `__proto__` stay own keys of the text. */
const objectText = (pairs: Array<[string, unknown]>) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;

const wrongValue = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }));
const typeValue = fc.oneof(
  fc.constantFrom('ping', 'subscribe', 'unsubscribe', 'PING', 'ping ', 'log', 'error', '__proto__', 'constructor', 'toString', ''),
  fc.string({ maxLength: 30 }),
  wrongValue,
);
const channelValue = fc.oneof(fc.constantFrom('all', 'logs', 'jobs', 'ALL', 'secrets', '', '__proto__'), fc.string({ maxLength: 20 }), wrongValue);
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'type', 'channel', 'userId', 'since');

/** Messages shaped like the protocol's, with every field possibly wrong, extra or hostile. */
const messageLike = fc
  .record(
    {
      type: typeValue,
      channel: channelValue,
      extra: fc.array(fc.tuple(fc.oneof(hostileKey, fc.string({ maxLength: 10 })), fc.oneof(fc.jsonValue({ maxDepth: 3 }), wrongValue)), { maxLength: 4 }),
    },
    { requiredKeys: [] },
  )
  .map(({ type, channel, extra }) => {
    const pairs: Array<[string, unknown]> = [...(extra ?? [])];
    if (type !== undefined) pairs.unshift(['type', type]);
    if (channel !== undefined) pairs.push(['channel', channel]);
    return text(objectText(pairs));
  });

const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 12_000 }), fc.constantFrom('array', 'object', 'in-ping'))
  .map(([depth, shape]) => {
    const inner = shape === 'object' ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`;
    return text(shape === 'in-ping' ? `{"type":"ping","x":${inner}}` : inner);
  });

const hugeString = fc
  .tuple(fc.integer({ min: 1000, max: 3 * MAX_MESSAGE_BYTES }), fc.constantFrom('type', 'channel', 'pad'))
  .map(([size, field]) => {
    const big = 'x'.repeat(size);
    if (field === 'type') return text(objectText([['type', big]]));
    if (field === 'channel') return text(objectText([['type', 'subscribe'], ['channel', big]]));
    return text(objectText([['type', 'ping'], ['pad', big]]));
  });

const invalidUtf8 = fc
  .tuple(fc.string({ maxLength: 40 }), fc.constantFrom([0xff], [0xc0, 0x80], [0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]), fc.string({ maxLength: 40 }))
  .map(([before, bad, after]) => ({ binary: false, bytes: Buffer.concat([Buffer.from(`{"type":"ping","s":"${before}`), Buffer.from(bad), Buffer.from(`${after}"}`)]) }));

const frameArbitrary: fc.Arbitrary<Frame> = fc
  .oneof(
    { weight: 8, arbitrary: messageLike },
    { weight: 6, arbitrary: fc.json({ maxDepth: 4 }).map(text) },
    { weight: 3, arbitrary: fc.string({ maxLength: 200 }).map(text) },
    // These three close the socket part of the time (too big, invalid UTF-8): each close costs a reconnect.
    { weight: 1, arbitrary: deepNesting },
    { weight: 1, arbitrary: hugeString },
    { weight: 1, arbitrary: invalidUtf8 },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => ({ binary: true, bytes: Buffer.from(b) })) },
    { weight: 1, arbitrary: fc.constantFrom<Frame>(text(''), { binary: true, bytes: Buffer.alloc(0) }, text(' '), text('{}'), text('[]'), text('null')) },
    { weight: 2, arbitrary: fc.constantFrom('ping', 'subscribe', 'unsubscribe').chain((type) => fc.constantFrom('all', 'logs', 'jobs').map((channel) => text(JSON.stringify({ type, channel })))) },
  )
  // clear-logs is valid and answered through the bus, after the sentinel: the isolation test covers it.
  .filter((frame) => !frame.bytes.toString('utf8').includes('clear-logs'));

/** The oracle: what a frame must get, from the protocol's own schema rather than the server's code. */
function expectedFor(frame: Frame): Expected {
  if (frame.bytes.length > MAX_MESSAGE_BYTES) return { close: CLOSE_CODES.MESSAGE_TOO_BIG };
  if (frame.binary) return { reply: 'error' };
  if (!isUtf8(frame.bytes)) return { close: CLOSE_CODES.INVALID_PAYLOAD };
  let value: unknown;
  try {
    value = JSON.parse(frame.bytes.toString('utf8'));
  } catch {
    return { reply: 'error' };
  }
  const valid = clientMessageSchema.safeParse(value);
  if (!valid.success) return { reply: 'error' };
  return { reply: valid.data.type === 'ping' ? 'pong' : valid.data.type === 'subscribe' ? 'subscribed' : valid.data.type === 'unsubscribe' ? 'unsubscribed' : 'error' };
}

describe('hostile frames (fast-check, against a live server)', () => {
  let server: TestServer;
  let mallory: TestUser;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer({ MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) });
    [mallory, alice] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());

  it(`answers each of thousands of generated frames with a protocol error, its reply or a documented close; leaks nothing; stays responsive`, async () => {
    const victim = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const fuzzSockets: TestSocket[] = [];
    const connect = async () => {
      const socket = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
      fuzzSockets.push(socket);
      return socket;
    };
    let socket = await connect();
    let frames = 0;
    let closes = 0;
    const alicesLogs: string[] = [];

    await fc.assert(
      // A batch of frames per run, sent back to back (pipelined, as a hostile client would): replies must
      // come one per frame, in order. A frame that must close the socket ends its batch.
      fc.asyncProperty(fc.array(frameArbitrary, { minLength: 1, maxLength: 10 }), async (batch) => {
        const expectations = batch.map((frame) => ({ frame, expected: expectedFor(frame) }));
        const closing = expectations.findIndex(({ expected }) => 'close' in expected);
        const answered = closing < 0 ? expectations : expectations.slice(0, closing);

        // Alice's stream keeps flowing during the run: none of it may reach the fuzzer.
        if (frames % 40 < answered.length) {
          const command = `ALICE${frames}`;
          alicesLogs.push(command);
          await server.node.app.logs.log(alice.userId, logInput({ command }));
        }
        if (socket.ws.readyState !== socket.ws.OPEN) socket = await connect();
        for (const { frame } of answered) socket.ws.send(frame.bytes, { binary: frame.binary });
        socket.send({ type: 'ping' }); // the sentinel: everything the batch caused comes before its pong
        frames += answered.length;
        // The next messages that are not the socket's backlog (initial-logs, initial-jobs).
        const nextReply = () => socket.take((m) => !m.type.startsWith('initial-'), 3000, 'a reply');
        for (const { expected } of answered) {
          const reply: ServerMessage = await nextReply();
          expect(reply.type).toBe((expected as { reply: string }).reply);
          if (reply.type === 'error') expect(reply.error).toMatch(PROTOCOL_ERROR_TEXT);
        }
        expect(await nextReply()).toEqual({ type: 'pong' });

        if (closing >= 0) {
          const { frame, expected } = expectations[closing]!;
          socket.ws.send(frame.bytes, { binary: frame.binary });
          frames++;
          const closed = await within(socket.closed, 3000, `close ${(expected as { close: number }).close}`);
          expect(closed.code).toBe((expected as { close: number }).close);
          closes++;
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(frames).toBeGreaterThan(1500);

    // No leak: the fuzzer's sockets saw only protocol replies and empty backlogs (its user has no logs).
    const seen = new Set(fuzzSockets.flatMap((s) => s.messages.map((m) => m.type)));
    for (const type of seen) expect(['initial-logs', 'initial-jobs', 'error', 'pong', 'subscribed', 'unsubscribed']).toContain(type);
    for (const s of fuzzSockets) for (const m of s.all('initial-logs')) expect(m.logs).toEqual([]);
    expect(JSON.stringify(fuzzSockets.map((s) => s.messages))).not.toContain(alice.userId);

    // Responsive: another user's socket answers, and got exactly its own logs, nothing else.
    await victim.roundTrip();
    expect(victim.all('log').map((m) => m.log.command)).toEqual(alicesLogs);
    expect(victim.messages.map((m) => m.type).filter((t) => t !== 'log')).toEqual(['initial-logs', 'initial-jobs', 'pong']);
    // The server logged no error: nothing went wrong inside it.
    expect(server.logLines.map((line) => JSON.parse(line) as { level: number; msg?: string }).filter((l) => l.level >= 50)).toEqual([]);
    console.info(`hostile frames: ${frames} frames, ${closes} documented closes, ${fuzzSockets.length} sockets`);
    await victim.close();
    for (const s of fuzzSockets) await s.close();
  });
});
