import { afterEach, describe, expect, it } from 'vitest';
import { entry, signUp } from '../helpers/http.js';
import { recordedClient, recordingWebSocket, type SdkRecorder } from '../helpers/sdk-client.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

describe('SDK and a slow consumer', () => {
  let server: TestServer | undefined;
  let client: SdkRecorder | undefined;
  afterEach(async () => {
    await client?.client.close();
    await server?.close();
  });

  it('is closed with 1013 when it stops reading, reconnects, and still receives every log once, in order', async () => {
    // Small enough to fill quickly, big enough for the resume's backlog (the logs written after the close)
    // to fit in one initial-logs: nothing is left out, so no reset.
    server = await startTestServer({ MAX_BUFFERED_BYTES: String(256 * 1024), MAX_LOGS_PER_USER: '100000', INITIAL_LOGS: '0' });
    const user = await signUp(server.url);
    const { WebSocket, sockets, closeCodes } = recordingWebSocket();
    const sdk = recordedClient({ url: server.wsUrl, headers: { cookie: user.cookie }, WebSocket });
    client = sdk;
    await sdk.until(() => sdk.all('initial-logs').length === 1, 'the first initial-logs');
    const [conn] = server.node.app.hub.connections();

    // The client stops reading its TCP socket: the kernel buffers fill, then the server's own buffer.
    sockets[0]!.pause();
    const big = 'x'.repeat(64 * 1024);
    let sent = 0;
    // Fan-out is synchronous after the commit: once log() resolves, the server has decided.
    for (let i = 0; i < 1000 && !conn!.closed; i++) {
      await server.node.app.logs.log(user.userId, entry({ command: `N${sent++}`, data: { raw: big } }) as never);
    }
    expect(conn!.closed).toBe(true);
    expect(conn!.closeCode).toBe(1013);

    // Reading again, the client gets what was buffered, then the close frame; it resumes after that.
    sockets[0]!.resume();
    await sdk.nth('reconnecting');
    for (let i = 0; i < 50; i++) await server.node.app.logs.log(user.userId, entry({ command: `N${sent++}` }) as never);

    await sdk.until(() => sdk.logs.length >= sent && sdk.client.state === 'open', `${sent} logs`, 10_000);
    expect(sent).toBeGreaterThan(20); // the buffers really filled before the server gave up
    expect(closeCodes[0]).toBe(1013);
    expect(sdk.states.find((s) => s.state === 'reconnecting')).toMatchObject({ code: 1013 });
    expect(sdk.commands()).toEqual(Array.from({ length: sent }, (_, i) => `N${i}`));
    expect(sdk.all('reset')).toEqual([]);
  });
});
