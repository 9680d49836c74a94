import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_TOKEN } from '../helpers/server.js';
import { LivetailProcess, PROCESS_TEST_TIMEOUT_MS, ROOT, processEnv } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

/** The preload that makes a request with `X-Test-Fault: <kind>` throw from inside its own handling. */
const FAULTS = pathToFileURL(path.join(ROOT, 'test', 'fixtures', 'request-faults.mjs')).href;

// A real process (the uncaughtException and unhandledRejection handlers are main's, installed for the
// process), so an exception that escaped would end it, as it did before.
describe('an exception while handling one HTTP request never ends the process', () => {
  let node: LivetailProcess;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-faults-'));
    node = LivetailProcess.start(processEnv(dir, { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${FAULTS}`.trim() }));
    url = await node.listening();
  }, PROCESS_TEST_TIMEOUT_MS);
  afterAll(async () => {
    await node.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The server's log lines about this error. */
  const linesAbout = (message: string) => node.jsonLines().filter((line) => line.err?.message === message);
  const internalErrors = async (where: 'handler' | 'escaped') => {
    const handler = where === 'handler' ? 'request' : 'request-escaped';
    const text = await (await fetch(`${url}/metrics`)).text();
    return Number(new RegExp(`^livetail_handler_errors_total\\{[^}]*handler="${handler}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const expectServing = async () => {
    expect(node.child.exitCode).toBeNull();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  };

  it('a throw inside the handler: 500 INTERNAL, logged once with the request id, counted', async () => {
    const res = await fetch(`${url}/healthz`, { headers: { 'x-test-fault': 'handler' } });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ code: 'INTERNAL', error: 'Internal server error' });
    await waitFor(() => linesAbout('injected fault: handler').length > 0, 'the error logged');
    const lines = linesAbout('injected fault: handler');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.req?.id ?? lines[0]!.reqId).toBe(res.headers.get('x-request-id'));
    expect(await internalErrors('handler')).toBe(1);
    await expectServing();
  });

  it.each(['finish', 'close', 'timer', 'rejection'])('a throw that escapes Express (%s, after the answer): logged once with the request id, counted, the node carries on', async (kind) => {
    const before = await internalErrors('escaped');
    const res = await fetch(`${url}/healthz`, { headers: { 'x-test-fault': kind } });
    expect(res.status).toBe(200);
    await res.text();
    const message = `injected fault: ${kind}`;
    await waitFor(() => linesAbout(message).length > 0, `the ${kind} error logged`);
    expect(linesAbout(message)).toHaveLength(1);
    expect(linesAbout(message)[0]!.req?.id).toBe(res.headers.get('x-request-id'));
    expect(await internalErrors('escaped')).toBe(before + 1);
    await expectServing();
  });

  it('a timer of a request still in progress (its body not sent yet) throws: the request is answered 500 and its connection closed', async () => {
    const before = await internalErrors('escaped');
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => {});
    socket.write(
      `POST /api/jobs/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${INGEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 50\r\nX-Test-Fault: timer\r\n\r\n`,
    );
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer.slice(answer.indexOf('\r\n\r\n') + 4)).toBe('{"error":"Internal server error","code":"INTERNAL"}');
    expect(await internalErrors('escaped')).toBe(before + 1);
    await waitFor(() => linesAbout('injected fault: timer').length === 2, 'the error logged (this one and the one of the test before)');
    await expectServing();
  });
});
