import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, CLIENT_MESSAGE_TYPES, CLOSE_CODES, SINCE_THE_START } from '../../src/protocol/constants.js';
import { clientMessageSchema, type ServerMessage } from '../../src/protocol/index.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';
import { TestSocket } from '../helpers/ws-client.js';

const MAX_MESSAGE_BYTES = 64 * 1024; // the default: hostile values must fit under it, as a real attack's do
const RUNS = 500; // of 1 to 10 frames each, cut at a closing frame: about 2,000 frames
const QUERY_RUNS = 300;
/** What "short" means for an error text: a catalog sentence and a clipped quote, whatever was sent. */
const MAX_ERROR_TEXT = 200;

/** A frame as the fuzzer sends it. */
interface Frame {
  binary: boolean;
  bytes: Buffer;
}

/** What the server must answer a frame with (clear-logs is answered later, through the bus). */
type Expected = { close: number } | { reply: 'error' | 'pong' | 'subscribed' | 'unsubscribed' } | { reply: 'later' };

/** The error texts of PROTOCOL_ERRORS: every refusal must be one of them. */
const PROTOCOL_ERROR_TEXT = /^(Invalid message format|Unknown message type: .*|Invalid channel: .* \(expected one of all, logs, jobs\)|(subscribe|unsubscribe) needs a channel: one of all, logs, jobs)$/s;

const text = (s: string): Frame => ({ binary: false, bytes: Buffer.from(s) });

/**
 * Hostile values as JSON text, so that a value nested 20,000 deep is written without serializing it
 * (which is what overflowed the stack in the server). Each is a whole JSON value.
 */
const deepValue = fc.tuple(fc.integer({ min: 5000, max: 20_000 }), fc.constantFrom('array', 'object', 'mixed')).map(([depth, shape]) => {
  if (shape === 'array') return `${'['.repeat(depth)}${']'.repeat(depth)}`;
  if (shape === 'object') return `${'{"":'.repeat(depth)}0${'}'.repeat(depth)}`;
  const half = Math.floor(depth / 2);
  return `${'[{"a":'.repeat(half)}null${'}]'.repeat(half)}`;
});
const hugeString = fc
  .tuple(fc.integer({ min: 1000, max: 60 * 1024 }), fc.constantFrom('x', 'é', '\u0000', '😀'))
  .map(([size, unit]) => JSON.stringify(unit.repeat(Math.max(1, Math.floor(size / Buffer.byteLength(JSON.stringify(unit)))))));
const hugeArray = fc.integer({ min: 1000, max: 20_000 }).map((n) => `[${Array.from({ length: n }, (_, i) => i % 10).join(',')}]`);
const oddValue = fc.oneof(
  fc.constantFrom('null', 'true', 'false', '0', '-0', '1e308', '1e400', '-1e400', '123456789012345678901234567890', '[]', '{}', '""', '" "', '"\\ud800"', '"\\u0000"', '[null]', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{}}}'),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.string({ maxLength: 40, unit: 'binary' }).map((v) => JSON.stringify(v)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
);
const hostileValue = fc.oneof({ weight: 4, arbitrary: oddValue }, { weight: 1, arbitrary: deepValue }, { weight: 1, arbitrary: hugeString }, { weight: 1, arbitrary: hugeArray });
const validChannel = fc.constantFrom('"all"', '"logs"', '"jobs"');
const typeText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CLIENT_MESSAGE_TYPES).map((t) => JSON.stringify(t)) },
  { weight: 1, arbitrary: fc.constantFrom('PING', 'ping ', 'log', 'error', 'pong', '__proto__', 'constructor', 'toString', '').map((t) => JSON.stringify(t)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((t) => JSON.stringify(t)) },
  { weight: 3, arbitrary: hostileValue },
);
const hostileKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'type', 'channel', 'userId', 'since', 'channels', 'logs'), fc.string({ maxLength: 10 }));

/** A JSON object written by hand from key and value texts, so keys such as `__proto__` stay own keys. */
const objectText = (pairs: Array<[string, string]>) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/**
 * Every client message type, with any of its fields (type, channel, extra keys) missing, right, or
 * hostile: deep, huge or odd. Kept under MAX_MESSAGE_BYTES part of the time, over it the rest.
 */
const messageLike = fc
  .record(
    {
      type: typeText,
      channel: fc.oneof(validChannel, hostileValue),
      extra: fc.array(fc.tuple(hostileKey, fc.oneof({ weight: 3, arbitrary: oddValue }, { weight: 1, arbitrary: hostileValue })), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  )
  .map(({ type, channel, extra }) => {
    const pairs: Array<[string, string]> = [...(extra ?? [])];
    if (type !== undefined) pairs.unshift(['type', type]);
    if (channel !== undefined) pairs.push(['channel', channel]);
    return text(objectText(pairs));
  });

const invalidUtf8 = fc
  .tuple(fc.string({ maxLength: 40 }), fc.constantFrom([0xff], [0xc0, 0x80], [0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]), fc.string({ maxLength: 40 }))
  .map(([before, bad, after]) => ({ binary: false, bytes: Buffer.concat([Buffer.from(`{"type":"ping","s":${JSON.stringify(before)}`.slice(0, -1)), Buffer.from(bad), Buffer.from(`${JSON.stringify(after).slice(1)}}`)]) }));

const frameArbitrary: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 12, arbitrary: messageLike },
  { weight: 2, arbitrary: hostileValue.map(text) }, // a bare value, not an object
  { weight: 3, arbitrary: fc.json({ maxDepth: 4 }).map(text) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }).map(text) },
  { weight: 1, arbitrary: invalidUtf8 },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => ({ binary: true, bytes: Buffer.from(b) })) },
  { weight: 1, arbitrary: fc.constantFrom<Frame>(text(''), { binary: true, bytes: Buffer.alloc(0) }, text(' '), text('{}'), text('[]'), text('null')) },
  { weight: 2, arbitrary: fc.constantFrom('ping', 'subscribe', 'unsubscribe').chain((type) => fc.constantFrom('all', 'logs', 'jobs').map((channel) => text(JSON.stringify({ type, channel })))) },
);

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
  const replies = { ping: 'pong', subscribe: 'subscribed', unsubscribe: 'unsubscribed', 'clear-logs': 'later' } as const;
  return { reply: replies[valid.data.type] };
}

/** A query value for `?since=` or `?channels=`: right, odd, deep-looking or huge. */
const queryValue = fc.oneof(
  fc.constantFrom('', ',', ',,', 'all', 'logs', 'jobs', 'all,logs', ' all , jobs ', 'ALL', 'all,secrets', '__proto__', 'null', '[]', '{}', '0', '-1', 'NaN', '\u0000', '😀', '\ud800', '%ff', '%zz'),
  fc.string({ maxLength: 120, unit: 'binary' }),
  fc.array(fc.constantFrom('all', 'logs', 'jobs', 'x', '', ' '), { maxLength: 8 }).map((names) => names.join(',')),
  fc.integer({ min: 5000, max: 20_000 }).map((depth) => '['.repeat(depth)),
  fc.integer({ min: 101, max: 60 * 1024 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 1, max: 5000 }).map((n) => Array.from({ length: n }, () => 'all').join(',')),
);
const queryArbitrary = fc.record({
  since: fc.option(queryValue, { nil: undefined }),
  channels: fc.option(queryValue, { nil: undefined }),
  repeated: fc.boolean(), // a second, different value of each: the first counts
});

/** Node refuses a request line and headers over 16 KiB itself (431) before any listener runs. */
const HEADER_LIMIT = 16 * 1024;

/** What an upgrade with this query must get: open, or 400 INVALID_QUERY; far over Node's limit, 431. */
function expectedForQuery(query: string): 'open' | 'invalid' | 'too-long' | 'invalid-or-too-long' | 'open-or-too-long' {
  if (query.length > HEADER_LIMIT) return 'too-long';
  const params = new URLSearchParams(query);
  const since = params.get('since');
  const channels = params.get('channels');
  const names = channels?.split(',').map((n) => n.trim()).filter(Boolean);
  const valid =
    (since === null || (since.length > 0 && since.length <= 100)) &&
    (names === undefined || (names.length > 0 && names.every((n) => (CHANNELS as readonly string[]).includes(n))));
  // Near the limit, the other headers decide whether Node lets it through.
  if (query.length > HEADER_LIMIT - 2048) return valid ? 'open-or-too-long' : 'invalid-or-too-long';
  return valid ? 'open' : 'invalid';
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

  /** Error replies must be short, whatever was sent. */
  const expectShortError = (error: string) => {
    expect(error).toMatch(PROTOCOL_ERROR_TEXT);
    expect(error.length).toBeLessThanOrEqual(MAX_ERROR_TEXT);
  };

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
    let hostile = 0;
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
        hostile += batch.filter((frame) => frame.bytes.length > 4096).length;
        // The next messages that are not the socket's backlog (initial-logs, initial-jobs) nor the
        // answers of clear-logs, which come through the bus, in their own time.
        const nextReply = () => socket.take((m) => !m.type.startsWith('initial-') && m.type !== 'logs-cleared', 5000, 'a reply');
        for (const { expected } of answered) {
          if ('reply' in expected && expected.reply === 'later') continue;
          const reply: ServerMessage = await nextReply();
          expect(reply.type).toBe((expected as { reply: string }).reply);
          if (reply.type === 'error') expectShortError(reply.error);
        }
        expect(await nextReply()).toEqual({ type: 'pong' });

        if (closing >= 0) {
          const { frame, expected } = expectations[closing]!;
          socket.ws.send(frame.bytes, { binary: frame.binary });
          frames++;
          const closed = await within(socket.closed, 5000, `close ${(expected as { close: number }).close}`);
          expect(closed.code).toBe((expected as { close: number }).close);
          closes++;
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(frames).toBeGreaterThan(1500);
    expect(hostile).toBeGreaterThan(200); // deep, huge and long values really were sent

    // No leak: the fuzzer's sockets saw only protocol replies and empty backlogs (its user has no logs).
    const seen = new Set(fuzzSockets.flatMap((s) => s.messages.map((m) => m.type)));
    for (const type of seen) expect(['initial-logs', 'initial-jobs', 'error', 'pong', 'subscribed', 'unsubscribed', 'logs-cleared']).toContain(type);
    for (const s of fuzzSockets) for (const m of s.all('initial-logs')) expect(m.logs).toEqual([]);
    expect(JSON.stringify(fuzzSockets.map((s) => s.messages))).not.toContain(alice.userId);

    // Responsive: another user's socket answers, and got exactly its own logs, nothing else.
    await victim.roundTrip();
    expect(victim.all('log').map((m) => m.log.command)).toEqual(alicesLogs);
    expect(victim.messages.map((m) => m.type).filter((t) => t !== 'log')).toEqual(['initial-logs', 'initial-jobs', 'pong']);
    // The server logged no error: nothing went wrong inside it.
    expect(server.logLines.map((line) => JSON.parse(line) as { level: number; msg?: string }).filter((l) => l.level >= 50)).toEqual([]);
    console.info(`hostile frames: ${frames} frames (${hostile} over 4 KB), ${closes} documented closes, ${fuzzSockets.length} sockets`);
    await victim.close();
    for (const s of fuzzSockets) await s.close();
  });

  it('answers each of hundreds of generated ?since= and ?channels= values with an open socket or 400 INVALID_QUERY (431 past the header limit); stays responsive', async () => {
    const victim = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const outcomes = { open: 0, invalid: 0, 'too-long': 0 };
    await fc.assert(
      fc.asyncProperty(queryArbitrary, async ({ since, channels, repeated }) => {
        const params = new URLSearchParams();
        if (since !== undefined) params.append('since', since);
        if (channels !== undefined) params.append('channels', channels);
        if (repeated) {
          params.append('since', 'second');
          params.append('channels', 'second');
        }
        const query = params.toString();
        const expected = expectedForQuery(query);
        let outcome: keyof typeof outcomes;
        try {
          const socket = await TestSocket.open(server.wsUrl, { cookie: mallory.cookie, query });
          const initial = await socket.next('initial-logs');
          expect(initial.logs).toEqual([]);
          // The fuzzer's user has no logs: any since is unknown (truncated), but 0 means "from the start".
          const since = new URLSearchParams(query).get('since');
          if (since !== null) expect(initial.truncated).toBe(since !== SINCE_THE_START);
          await socket.roundTrip();
          await socket.close();
          outcome = 'open';
        } catch (error) {
          const { status, body } = error as { status?: number; body?: string };
          if (status === undefined) throw error;
          if (status === 431) {
            outcome = 'too-long';
          } else {
            expect(status).toBe(400);
            const parsed = JSON.parse(body!) as { error: string; code: string };
            expect(parsed.code).toBe('INVALID_QUERY');
            expect(parsed.error.length).toBeLessThanOrEqual(MAX_ERROR_TEXT);
            outcome = 'invalid';
          }
        }
        expect(expected.split('-or-')).toContain(outcome);
        outcomes[outcome]++;
      }),
      { numRuns: QUERY_RUNS, endOnFailure: true },
    );
    for (const count of Object.values(outcomes)) expect(count).toBeGreaterThan(10);
    await victim.roundTrip();
    expect(server.logLines.map((line) => JSON.parse(line) as { level: number }).filter((l) => l.level >= 50)).toEqual([]);
    console.info(`hostile queries: ${JSON.stringify(outcomes)}`);
    await victim.close();
  });
});
