import { PROTOCOL_ERRORS, type ProtocolErrorCode } from '../errors.js';
import { CLIENT_MESSAGE_TYPES, type ClientMessageType } from '../protocol/constants.js';
import { type ClientMessage, clientMessageSchema } from '../protocol/messages.js';

/** What a client frame was, for the messages-received metric: its type, or why it has none. */
export type ReceivedKind = ClientMessageType | 'invalid' | 'unknown';

/** A client frame read with the protocol's schema: the message, or the protocol error to answer it with. */
export type ClientFrame =
  | { ok: true; kind: ClientMessageType; message: ClientMessage }
  | { ok: false; kind: ReceivedKind; code: ProtocolErrorCode; text: string };

/** The most characters of a client's string an error quotes back. */
const MAX_QUOTED = 100;

/**
 * Reads one client frame with `clientMessageSchema`, the protocol's one definition of client messages.
 *
 * A refusal is worded from the error catalog, never from zod's issues, and it quotes at most a clipped
 * string the client sent, or else only the kind of value it sent ("an array"): never the value itself.
 * Serializing an arbitrary client value to describe it is how one 10 KB frame (a channel nested 5,000
 * arrays deep) once overflowed the stack and ended the process; and a 60 KB value would be echoed whole.
 */
export function readClientFrame(data: Buffer, isBinary: boolean): ClientFrame {
  const value = isBinary ? NOT_JSON : parseJson(data);
  const parsed = clientMessageSchema.safeParse(value);
  if (parsed.success) return { ok: true, kind: parsed.data.type, message: parsed.data };
  return refusal(value);
}

const NOT_JSON = Symbol('not JSON');

function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

/** Why `value` is not a client message, most basic reason first. */
function refusal(value: unknown): ClientFrame & { ok: false } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalidFormat();
  const { type, channel } = value as { type?: unknown; channel?: unknown };
  if (typeof type !== 'string') return invalidFormat();
  if (!(CLIENT_MESSAGE_TYPES as readonly string[]).includes(type)) {
    return { ok: false, kind: 'unknown', code: 'UNKNOWN_MESSAGE_TYPE', text: PROTOCOL_ERRORS.UNKNOWN_MESSAGE_TYPE(clipped(type)) };
  }
  const kind = type as ClientMessageType;
  if (kind === 'subscribe' || kind === 'unsubscribe') {
    if (channel === undefined || channel === null || channel === '') {
      return { ok: false, kind, code: 'MISSING_CHANNEL', text: PROTOCOL_ERRORS.MISSING_CHANNEL(kind) };
    }
    return { ok: false, kind, code: 'INVALID_CHANNEL', text: PROTOCOL_ERRORS.INVALID_CHANNEL(described(channel)) };
  }
  // ping and clear-logs take no fields (extra ones are ignored): the schema takes any object of their
  // type, so this is never reached. Should it be, the frame is not a message the server knows.
  return invalidFormat();
}

function invalidFormat(): ClientFrame & { ok: false } {
  return { ok: false, kind: 'invalid', code: 'INVALID_MESSAGE_FORMAT', text: PROTOCOL_ERRORS.INVALID_MESSAGE_FORMAT() };
}

/** A client value as an error may show it: a string clipped, anything else by its kind alone. */
function described(value: unknown): string {
  if (typeof value === 'string') return clipped(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`; // number, boolean
}

/** At most MAX_QUOTED characters of `text`, never half of a surrogate pair. */
function clipped(text: string): string {
  if (text.length <= MAX_QUOTED) return text;
  const end = isHighSurrogate(text.charCodeAt(MAX_QUOTED - 1)) ? MAX_QUOTED - 1 : MAX_QUOTED;
  return `${text.slice(0, end)}...`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
