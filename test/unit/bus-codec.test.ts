import { describe, expect, it } from 'vitest';
import type { BusMessage } from '../../src/bus/bus.js';
import { decodeBusMessage, encodeBusMessage } from '../../src/bus/codec.js';

describe('bus codec', () => {
  const messages: BusMessage[] = [
    {
      type: 'log',
      userId: 'u1',
      seq: 7,
      at: 1_700_000_000_000,
      log: { id: '0190c0de-0000-7000-8000-000000000000', timestamp: '2024-01-01T00:00:00.000Z', userId: 'u1', emailAccountId: 'a', level: 'info', command: 'NOOP', data: {} },
    },
    { type: 'logs-cleared', userId: 'u1', seq: 8, timestamp: '2024-01-01T00:00:00.000Z' },
    { type: 'job-event', userId: 'u1', data: { userId: 'u1', jobId: 'j', status: 'progress', progress: { pct: 5 } } },
    { type: 'session-ended', userId: 'u1', sessionId: 's1' },
    { type: 'session-ended', userId: 'u1', exceptSessionId: 's2' },
  ];

  for (const message of messages) {
    it(`round-trips a ${message.type} message unchanged`, () => {
      expect(decodeBusMessage(encodeBusMessage(message))).toEqual({ ok: true, message });
    });
  }

  const bad: Array<[string, string, string]> = [
    ['not JSON', 'nope', 'not JSON'],
    ['a non-object', '42', 'not an object'],
    ['another format version', JSON.stringify({ v: 2, type: 'log', userId: 'u' }), 'unsupported version 2'],
    ['no userId', JSON.stringify({ v: 1, type: 'log' }), 'no userId'],
    ['an unknown type', JSON.stringify({ v: 1, type: 'explode', userId: 'u' }), 'unknown type "explode"'],
    ['a log without a valid seq', JSON.stringify({ v: 1, type: 'log', userId: 'u', seq: 0, log: {}, at: 1 }), 'malformed log message'],
    ['a clear without timestamp', JSON.stringify({ v: 1, type: 'logs-cleared', userId: 'u', seq: 3 }), 'malformed logs-cleared message'],
    ['a session-ended with neither a session nor a user', JSON.stringify({ v: 1, type: 'session-ended' }), 'malformed session-ended message'],
    ['a session-ended with a session id that is no string', JSON.stringify({ v: 1, type: 'session-ended', sessionId: 7 }), 'malformed session-ended message'],
  ];
  for (const [what, raw, reason] of bad) {
    it(`refuses ${what}: ${reason}`, () => {
      expect(decodeBusMessage(raw)).toEqual({ ok: false, reason });
    });
  }
});
