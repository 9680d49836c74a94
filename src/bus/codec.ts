import type { BusMessage } from './bus.js';

/**
 * The wire format of bus messages between nodes: one JSON object per message, the BusMessage itself
 * plus a format version `v`, so a node can refuse what a newer or older release sends instead of
 * misreading it. Only the envelope is checked here: payloads come from other livetail nodes, which
 * validated them before commit, and re-validating every log on every node would cost more than it saves.
 */
export const BUS_CODEC_VERSION = 1;

export function encodeBusMessage(message: BusMessage): string {
  return JSON.stringify({ v: BUS_CODEC_VERSION, ...message });
}

/** The message, or a reason why `raw` is not one this node understands. */
export type Decoded = { ok: true; message: BusMessage } | { ok: false; reason: string };

export function decodeBusMessage(raw: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (value === null || typeof value !== 'object') return { ok: false, reason: 'not an object' };
  const { v, ...message } = value as Record<string, unknown> & { v?: unknown };
  if (v !== BUS_CODEC_VERSION) return { ok: false, reason: `unsupported version ${JSON.stringify(v)}` };
  if (message.type === 'session-ended') {
    const { sessionId, userId, exceptSessionId } = message;
    const optional = (v: unknown) => v === undefined || typeof v === 'string';
    if ((typeof sessionId === 'string' || typeof userId === 'string') && optional(sessionId) && optional(userId) && optional(exceptSessionId)) {
      return { ok: true, message: message as unknown as BusMessage };
    }
    return { ok: false, reason: 'malformed session-ended message' };
  }
  if (typeof message.userId !== 'string') return { ok: false, reason: 'no userId' };
  switch (message.type) {
    case 'log':
      if (!isSeq(message.seq) || typeof message.log !== 'object' || message.log === null || typeof message.at !== 'number') break;
      return { ok: true, message: message as unknown as BusMessage };
    case 'logs-cleared':
      if (!isSeq(message.seq) || typeof message.timestamp !== 'string') break;
      return { ok: true, message: message as unknown as BusMessage };
    case 'job-event':
      if (typeof message.data !== 'object' || message.data === null) break;
      return { ok: true, message: message as unknown as BusMessage };
    default:
      return { ok: false, reason: `unknown type ${JSON.stringify(message.type)}` };
  }
  return { ok: false, reason: `malformed ${String(message.type)} message` };
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}
