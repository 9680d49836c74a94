/**
 * The part of the WebSocket API the client uses. The browser's WebSocket and the `ws` package's both
 * have it, so either (or a test's subclass of one) can be passed as `options.WebSocket`.
 */
export interface WebSocketLike {
  readonly readyState: number;
  // Events typed `any`: the DOM's and ws's event classes differ, and handler properties compare strictly.
  // The client reads only `data` (message), `code` (close) and `message` (error, ws only).
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a close handshake. */
  terminate?(): void;
}

/** A WebSocket constructor: `new WebSocket(url)` in browsers, `new WebSocket(url, { headers })` with `ws`. */
export type WebSocketConstructor = new (url: string, options?: any) => WebSocketLike;

/** `readyState` of an open socket (the same in every implementation). */
export const OPEN = 1;

/**
 * The WebSocket to use when none is given: `ws` in Node (it can send the cookie header), the native one
 * elsewhere. `ws` is imported through a variable so that bundlers (Vite, Rollup) neither follow nor
 * include it in browser builds.
 */
export async function defaultWebSocket(): Promise<WebSocketConstructor> {
  const runtime = globalThis as { process?: { versions?: { node?: string } }; WebSocket?: unknown };
  if (typeof runtime.process?.versions?.node === 'string') {
    const name = 'ws';
    const ws = (await import(/* @vite-ignore */ name)) as { default?: unknown; WebSocket?: unknown };
    return (ws.default ?? ws.WebSocket) as WebSocketConstructor;
  }
  if (typeof runtime.WebSocket === 'function') return runtime.WebSocket as WebSocketConstructor;
  throw new Error('livetail/client: no WebSocket implementation here; pass one as options.WebSocket');
}
