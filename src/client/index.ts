/**
 * livetail/client: a typed client for livetail's WebSocket, for browsers and Node.
 *
 *   const client = createClient({ url: 'ws://localhost:3002/ws' });
 *   client.on('log', (log) => console.log(log.command));
 *
 * See docs/sdk.md.
 */
import { type ClientOptions, LivetailClient } from './client.js';

export { LivetailClient } from './client.js';
export type { ClientError, ClientEvents, ClientOptions, ClientState, RefusalReason, StateChange } from './client.js';
export type { BackoffOptions } from './backoff.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
export { CHANNELS, CLOSE_CODES, type Channel, PROTOCOL_ERROR_CODES, type ProtocolErrorCode } from '../protocol/constants.js';
export type { JobEventData, LogEntry } from '../protocol/log-entry.js';
export type { ClientMessage, ServerMessage } from '../protocol/messages.js';

/** Creates a client and starts connecting (on the next microtask, so listeners added now see everything). */
export function createClient(options: ClientOptions): LivetailClient {
  return new LivetailClient(options);
}
