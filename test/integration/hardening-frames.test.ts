import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

const MAX_MESSAGE_BYTES = 64 * 1024; // the default, deliberately not overridden

/** `{"type":"ping","pad":"xxx…"}` of exactly `bytes` bytes. */
function pingOfSize(bytes: number): string {
  const empty = JSON.stringify({ type: 'ping', pad: '' });
  return JSON.stringify({ type: 'ping', pad: 'x'.repeat(bytes - empty.length) });
}

describe('incoming frame size (MAX_MESSAGE_BYTES)', () => {
  let server: TestServer;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await signUp(server.url);
  });
  afterAll(() => server.close());

  const metrics = () => server.node.app.metrics;

  it('accepts a frame of exactly MAX_MESSAGE_BYTES (64 KiB by default)', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const frame = pingOfSize(MAX_MESSAGE_BYTES);
    expect(Buffer.byteLength(frame)).toBe(MAX_MESSAGE_BYTES);
    socket.send(frame);
    expect(await socket.next('pong')).toEqual({ type: 'pong' });
    await socket.close();
  });

  it('closes with 1009 on a frame one byte over, and counts it', async () => {
    const before = await counterValue(metrics().protocolErrors, { kind: 'MESSAGE_TOO_BIG' });
    const closesBefore = await counterValue(metrics().closes, { code: '1009' });
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    socket.send(pingOfSize(MAX_MESSAGE_BYTES + 1));
    // ws closes by itself, with no reason text (see CLOSE_REASONS in src/errors.ts).
    expect(await socket.closed).toEqual({ code: CLOSE_CODES.MESSAGE_TOO_BIG, reason: '' });
    expect(socket.all('pong')).toEqual([]);
    expect(await counterValue(metrics().protocolErrors, { kind: 'MESSAGE_TOO_BIG' })).toBe(before + 1);
    // The server-side close is counted under the code the server sent, whatever the client echoes.
    await expect.poll(() => counterValue(metrics().closes, { code: '1009' })).toBe(closesBefore + 1);
  });

  it('closes with 1009 on the frame header alone, before any of the payload is sent or buffered', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    // A masked text frame header announcing 1 GiB, and not one byte of payload after it. If the server
    // waited for (or buffered) the payload, no close would ever come.
    const header = Buffer.alloc(14);
    header[0] = 0x81; // FIN + text
    header[1] = 0x80 | 127; // masked, 64-bit length follows
    header.writeBigUInt64BE(1n << 30n, 2);
    header.writeUInt32BE(0x12345678, 10); // masking key
    (socket.ws as unknown as { _socket: Socket })._socket.write(header);
    expect((await socket.closed).code).toBe(CLOSE_CODES.MESSAGE_TOO_BIG);
  });

  it('counts a message split into fragments as a whole', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const half = Buffer.from('x'.repeat(MAX_MESSAGE_BYTES / 2 + 1));
    socket.ws.send(half, { binary: false, fin: false });
    socket.ws.send(half, { binary: false, fin: true });
    expect((await socket.closed).code).toBe(CLOSE_CODES.MESSAGE_TOO_BIG);
  });

  it('closes with 1007 on a text frame that is not UTF-8, and with 1002 on a malformed frame', async () => {
    const utf8 = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    utf8.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    expect((await utf8.closed).code).toBe(CLOSE_CODES.INVALID_PAYLOAD);

    const malformed = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    // Opcode 0x3 is reserved.
    (malformed.ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    expect((await malformed.closed).code).toBe(CLOSE_CODES.PROTOCOL_ERROR);
    await expect.poll(() => counterValue(metrics().closes, { code: '1002' })).toBe(1);
  });

  it('frees the socket of a client that sends too much and then never answers the close (cut after 1 s, not 30)', async () => {
    const user = await signUp(server.url);
    const socket = await TestSocket.ready(server.wsUrl, { cookie: user.cookie });
    socket.ws.pause(); // it will not read the close frame, so it will not answer it
    socket.send(pingOfSize(MAX_MESSAGE_BYTES + 1));
    const started = performance.now();
    await expect.poll(() => server.node.app.hub.socketCount(user.userId), { timeout: 5000, interval: 20 }).toBe(0);
    expect(performance.now() - started).toBeLessThan(3000);
    socket.ws.resume();
    await socket.closed;
  });

  it('keeps serving other sockets of the same user', async () => {
    const survivor = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const offender = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    offender.send(pingOfSize(MAX_MESSAGE_BYTES * 4));
    expect((await offender.closed).code).toBe(1009);
    await survivor.roundTrip();
    await survivor.close();
  });
});

describe('hostile values inside known message types', () => {
  let server: TestServer;
  let mallory: TestUser;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [mallory, alice] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());

  /** `[[[…]]]` nested `depth` levels deep. */
  const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  for (const [type, depth] of [['subscribe', 5000], ['unsubscribe', 8000], ['subscribe', 20_000]] as const) {
    it(`answers a ${type} whose channel is nested ${depth} levels deep with a short error, and the node carries on`, async () => {
      const victim = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
      const attacker = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
      const frame = `{"type":"${type}","channel":${nestedArrays(depth)}}`;
      expect(Buffer.byteLength(frame)).toBeLessThan(MAX_MESSAGE_BYTES);
      attacker.send(frame);
      expect(await attacker.next('error')).toEqual({ type: 'error', error: 'Invalid channel: an array (expected one of all, logs, jobs)', code: 'INVALID_CHANNEL' });
      await attacker.roundTrip();
      await victim.roundTrip();
      await Promise.all([attacker.close(), victim.close()]);
    });
  }
});

