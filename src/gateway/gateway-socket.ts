import { WebSocket } from 'ws';

/** What a gateway socket's events are handed to, in place of listeners (see GatewaySocket). */
export interface SocketOwner {
  onSocketMessage(data: Buffer, isBinary: boolean): void;
  onSocketPing(data: Buffer): void;
  onSocketPong(): void;
  onSocketError(error: Error & { code?: string }): void;
  onSocketClose(code: number, reason: Buffer): void;
}

/**
 * The gateway's WebSocket (ws's `WebSocket` option of the server): it hands its five events straight to
 * its owner, the socket's Connection, instead of through five listeners. Listeners cost memory on every
 * socket — each event past the first grows the emitter's dictionary of events, and per-socket closures
 * keep their context — which at tens of thousands of idle sockets was most of what livetail kept per
 * socket beyond bare ws (bench/results/history.md). Listeners added with `on`/`once` still run, after the
 * owner (the gateway's shutdown waits for `close` that way).
 *
 * An `error` nobody listens to is not thrown (EventEmitter would throw it): a socket's error must never
 * end the process, and the owner, when there is one, has handled it.
 */
export class GatewaySocket extends WebSocket {
  /** Set once the gateway has made the socket's Connection (ws emits nothing before its upgrade callback). */
  owner: SocketOwner | undefined = undefined;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const owner = this.owner;
    if (owner !== undefined) {
      switch (event) {
        case 'message':
          owner.onSocketMessage(args[0] as Buffer, args[1] as boolean);
          break;
        case 'ping':
          owner.onSocketPing(args[0] as Buffer);
          break;
        case 'pong':
          owner.onSocketPong();
          break;
        case 'error':
          owner.onSocketError(args[0] as Error);
          break;
        case 'close':
          owner.onSocketClose(args[0] as number, args[1] as Buffer);
          break;
      }
    }
    if (this.listenerCount(event) === 0) return owner !== undefined;
    return super.emit(event, ...args);
  }
}
