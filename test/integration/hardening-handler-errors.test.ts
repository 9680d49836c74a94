import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/constants.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { counterValue } from '../helpers/metrics.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { TestSocket, refusedUpgrade } from '../helpers/ws-client.js';

/**
 * Makes `object[method]` throw until the returned function puts it back: a collaborator of the handler
 * with a bug. No input can make the handlers throw any more (that is the point of the frame parsing), so
 * the fault is put into a real collaborator of the running node instead of a hook in the server's code.
 */
function throwing<T extends object>(object: T, method: keyof T & string, message: string): () => void {
  return replaced(object, method, () => {
    throw new Error(message);
  });
}

/** Makes `object[method]` return a rejected promise until the returned function puts it back: a failure, not a bug. */
function rejecting<T extends object>(object: T, method: keyof T & string, message: string): () => void {
  return replaced(object, method, () => Promise.reject(new Error(message)));
}

function replaced<T extends object>(object: T, method: keyof T & string, value: () => unknown): () => void {
  const own = Object.getOwnPropertyDescriptor(object, method);
  Object.defineProperty(object, method, { configurable: true, value });
  return () => {
    if (own) Object.defineProperty(object, method, own);
    else delete (object as Record<string, unknown>)[method];
  };
}

describe('an exception while handling one frame or one upgrade ends only that socket or upgrade', () => {
  let server: TestServer;
  let alice: TestUser;
  let mallory: TestUser;

  beforeAll(async () => {
    server = await startTestServer();
    [alice, mallory] = await Promise.all([signUp(server.url), signUp(server.url)]);
  });
  afterAll(() => server.close());

  const handlerErrors = (handler: string) => counterValue(server.node.app.metrics.handlerErrors, { handler });
  /** The server's log lines that carry this error. */
  const loggedWith = (message: string) =>
    server.logLines.map((line) => JSON.parse(line) as { level: number; msg: string; handler?: string; err?: { message?: string } }).filter((l) => l.err?.message === message);

  /** Other users and other sockets of the same user go on as before; the node takes new sockets. */
  async function nodeCarriesOn(...sockets: TestSocket[]): Promise<void> {
    for (const socket of sockets) await socket.roundTrip();
    await server.node.app.logs.log(alice.userId, logInput({ command: 'AFTER' }));
    expect((await sockets[0]!.next('log')).log.command).toBe('AFTER');
    const fresh = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
    await fresh.roundTrip();
    await fresh.close();
  }

  it('frame: a throw while handling a frame closes that socket with 1011, is logged once and counted; nothing else is touched', async () => {
    const victim = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const sibling = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
    const socket = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
    const before = await handlerErrors('frame');
    const message = 'injected: clear threw synchronously';
    // clear-logs hands the user to LogService.clear inside the frame's handling.
    const restore = throwing(server.node.app.logs, 'clear', message);
    try {
      // Pipelined: the first one throws, the ones after it find the socket closed.
      for (let i = 0; i < 5; i++) socket.send({ type: 'clear-logs' });
      expect(await socket.closed).toEqual({ code: CLOSE_CODES.INTERNAL_ERROR, reason: 'internal error: reconnect to resume' });
    } finally {
      restore();
    }
    expect(await handlerErrors('frame')).toBe(before + 1);
    expect(loggedWith(message)).toMatchObject([{ level: 50, handler: 'frame' }]);
    await nodeCarriesOn(victim, sibling);
    await Promise.all([victim.close(), sibling.close()]);
  });

  it('a clear-logs the store fails (a rejection, not a throw) is answered with the catalog\'s INTERNAL error and code, and the socket stays open', async () => {
    const socket = await TestSocket.ready(server.wsUrl, { cookie: mallory.cookie });
    const before = await counterValue(server.node.app.metrics.protocolErrors, { kind: 'INTERNAL' });
    const message = 'injected: clear failed';
    const restore = rejecting(server.node.app.logs, 'clear', message);
    try {
      socket.send({ type: 'clear-logs' });
      expect(await socket.next('error')).toEqual({ type: 'error', error: 'Internal error: try again', code: 'INTERNAL' });
    } finally {
      restore();
    }
    expect(await counterValue(server.node.app.metrics.protocolErrors, { kind: 'INTERNAL' })).toBe(before + 1);
    expect(loggedWith(message)).toMatchObject([{ level: 50, msg: 'client request failed' }]);
    await socket.roundTrip();
    await socket.close();
  });

  it('upgrade: a throw before the socket is handed to ws answers 500 with the catalog body, logged once and counted', async () => {
    const victim = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const before = await handlerErrors('upgrade');
    const message = 'injected: socketCount threw';
    // The upgrade checks the user's open sockets after the session, right before handing the socket over.
    const restore = throwing(server.node.app.hub, 'socketCount', message);
    let refused: Awaited<ReturnType<typeof refusedUpgrade>>;
    try {
      refused = await refusedUpgrade(server.wsUrl, { cookie: mallory.cookie });
    } finally {
      restore();
    }
    expect(refused).toEqual({ status: 500, body: { error: 'Internal server error', code: 'INTERNAL' } });
    expect(await handlerErrors('upgrade')).toBe(before + 1);
    expect(loggedWith(message)).toMatchObject([{ level: 50, handler: 'upgrade' }]);
    await nodeCarriesOn(victim);
    await victim.close();
  });

  it('upgrade: a throw after the 101 closes that socket with 1011, logged once and counted', async () => {
    const victim = await TestSocket.ready(server.wsUrl, { cookie: alice.cookie });
    const before = await handlerErrors('upgrade');
    const message = 'injected: join threw';
    const restore = throwing(server.node.app.hub, 'join', message);
    let socket: TestSocket;
    try {
      socket = await TestSocket.open(server.wsUrl, { cookie: mallory.cookie });
      expect(await socket.closed).toEqual({ code: CLOSE_CODES.INTERNAL_ERROR, reason: 'internal error: reconnect to resume' });
    } finally {
      restore();
    }
    expect(socket.messages).toEqual([]);
    expect(await handlerErrors('upgrade')).toBe(before + 1);
    expect(loggedWith(message)).toMatchObject([{ level: 50, handler: 'upgrade' }]);
    await nodeCarriesOn(victim);
    await victim.close();
  });
});
