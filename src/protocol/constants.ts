/**
 * Protocol constants shared by the server, the SDK, the web console and the tests.
 * This file has no runtime dependencies so the SDK can import it in a browser.
 */

/** Channels a socket can subscribe to; every socket starts subscribed to `all`. */
export const CHANNELS = ['all', 'logs', 'jobs'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Log levels in increasing severity; entries under REALTIME_LOG_LEVEL are dropped. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The `since` of a client that has seen no log yet (it joined while the user had none): never a log id.
 * The server answers it with every stored log, and `truncated` only when some may be missing from that:
 * they do not all fit in one backlog, or some were trimmed (MAX_LOGS_PER_USER) since the last clear.
 */
export const SINCE_THE_START = '0';

/** The WebSocket endpoint's path. */
export const WS_PATH = '/ws';

/**
 * WebSocket close codes livetail uses. 1xxx are RFC 6455 codes; 4xxx are livetail's own.
 * A client reconnects after every code except the terminal ones (see `TERMINAL_CLOSE_CODES`).
 */
export const CLOSE_CODES = {
  /** The server is shutting down (or draining); reconnect, another node will answer. */
  GOING_AWAY: 1001,
  /** The server could not read the user's stream (the store failed), or handling the socket failed (a bug); reconnect and resume. */
  INTERNAL_ERROR: 1011,
  /** A malformed frame (ws fails the connection: unmasked, reserved bits or opcode, bad control frame). */
  PROTOCOL_ERROR: 1002,
  /** A text frame that is not valid UTF-8 (ws fails the connection, as RFC 6455 requires). */
  INVALID_PAYLOAD: 1007,
  /** The client kept sending after being told it exceeded its message rate (or sent too many fragments). */
  POLICY_VIOLATION: 1008,
  /** An incoming frame was larger than MAX_MESSAGE_BYTES. */
  MESSAGE_TOO_BIG: 1009,
  /** The socket's unsent buffer exceeded MAX_BUFFERED_BYTES: the client reads too slowly. */
  TRY_AGAIN_LATER: 1013,
  /** The session the socket was opened with was signed out, revoked or expired. */
  SESSION_ENDED: 4401,
} as const;

/** Close codes after which a client must not reconnect on its own. */
export const TERMINAL_CLOSE_CODES: readonly number[] = [CLOSE_CODES.SESSION_ENDED];

/** Message types a client may send. */
export const CLIENT_MESSAGE_TYPES = ['ping', 'clear-logs', 'subscribe', 'unsubscribe'] as const;
export type ClientMessageType = (typeof CLIENT_MESSAGE_TYPES)[number];

/**
 * The codes of protocol `error` messages (`{ type: "error", error, code }`): what a client matches on
 * rather than the English text. The texts are the server's error catalog (PROTOCOL_ERRORS in
 * src/errors.ts), which lists exactly these.
 */
export const PROTOCOL_ERROR_CODES = ['INVALID_MESSAGE_FORMAT', 'UNKNOWN_MESSAGE_TYPE', 'INVALID_CHANNEL', 'MISSING_CHANNEL', 'RATE_LIMITED', 'INTERNAL'] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];
