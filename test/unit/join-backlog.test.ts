import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type BuiltInitialLogs, initialJobsMessage, initialLogsFor, initialLogsMessage, initialLogsMessageOf } from '../../src/gateway/join-backlog.js';
import type { JobEventData, LogEntry } from '../../src/protocol/log-entry.js';
import { serverMessageSchema } from '../../src/protocol/messages.js';

const timestamp = '2024-01-01T00:00:00.000Z';

/** Logs of different sizes, with two-byte, four-byte and escaped characters, and a lone surrogate. */
const logs: LogEntry[] = ['plain', 'é'.repeat(300), '😀'.repeat(200), '"\\\n\u0001'.repeat(100), 'x'.repeat(5000), '\ud800 lone'].map((raw, i) => ({
  id: randomUUID(),
  timestamp,
  userId: 'user-1',
  emailAccountId: 'acct-1',
  level: 'info',
  command: `C${i}`,
  data: { raw, duration: i },
}));
const jobs: JobEventData[] = logs.map((log, i) => ({ userId: 'user-1', jobId: `job-${i}`, status: 'active', note: log.data.raw }));

/** The frame's payload, checked to be what the frame's header says. */
function payloadOf(frame: Buffer): string {
  expect(frame[0]).toBe(0x81);
  const short = frame[1]!;
  const [offset, length] = short < 126 ? [2, short] : short === 126 ? [4, frame.readUInt16BE(2)] : [10, Number(frame.readBigUInt64BE(2))];
  expect(frame.length).toBe(offset + length);
  return frame.subarray(offset).toString('utf8');
}

describe('initialLogsMessage', () => {
  it('writes exactly what JSON.stringify writes for the whole message when everything fits', () => {
    const built = initialLogsMessage(logs, timestamp, undefined, 1e9);
    expect(built.complete).toBe(true);
    expect(payloadOf(built.frame)).toBe(JSON.stringify({ type: 'initial-logs', logs, timestamp }));
    expect(built.payload.toString('utf8')).toBe(payloadOf(built.frame));
    const resumed = initialLogsMessage(logs, timestamp, { truncated: false }, 1e9);
    expect(payloadOf(resumed.frame)).toBe(JSON.stringify({ type: 'initial-logs', logs, truncated: false, timestamp }));
  });

  it('at every budget: a frame within it holding the newest logs that fit, truncated when a resume lost some', () => {
    const empty = initialLogsMessage([], timestamp, { truncated: false }, 1e9).frame.length;
    const full = initialLogsMessage(logs, timestamp, { truncated: false }, 1e9).frame.length;
    let previous = -1;
    for (let budget = empty + 10; budget <= full + 20; budget += 7) {
      const built = initialLogsMessage(logs, timestamp, { truncated: false }, budget);
      expect(built.frame.length).toBeLessThanOrEqual(budget);
      const message = serverMessageSchema.parse(JSON.parse(payloadOf(built.frame)));
      if (message.type !== 'initial-logs') throw new Error(message.type);
      expect(message.logs).toEqual(logs.slice(logs.length - message.logs.length));
      expect(message.truncated).toBe(message.logs.length < logs.length);
      expect(built.complete).toBe(message.logs.length === logs.length);
      expect(message.logs.length).toBeGreaterThanOrEqual(previous); // more room never means fewer logs
      previous = message.logs.length;
    }
    expect(previous).toBe(logs.length);
  });

  it('keeps truncated: true from the store even when every log it read fits, and writes none without a resume', () => {
    expect(JSON.parse(payloadOf(initialLogsMessage(logs, timestamp, { truncated: true }, 1e9).frame)).truncated).toBe(true);
    expect('truncated' in JSON.parse(payloadOf(initialLogsMessage(logs, timestamp, undefined, 100).frame))).toBe(false);
  });

  it('still sends the message, without logs, when the budget is smaller than the message alone', () => {
    const built = initialLogsMessage(logs, timestamp, { truncated: false }, 1);
    expect(JSON.parse(payloadOf(built.frame))).toEqual({ type: 'initial-logs', logs: [], truncated: true, timestamp });
  });
});

describe('initialJobsMessage', () => {
  it('keeps the most recently updated jobs (the first) that fit, within the budget', () => {
    const full = initialJobsMessage(jobs, timestamp, 1e9);
    expect(payloadOf(full.frame)).toBe(JSON.stringify({ type: 'initial-jobs', jobs, timestamp }));
    const empty = initialJobsMessage([], timestamp, 1e9).frame.length;
    for (let budget = empty + 10; budget < full.frame.length; budget += 97) {
      const built = initialJobsMessage(jobs, timestamp, budget);
      expect(built.frame.length).toBeLessThanOrEqual(budget);
      const message = JSON.parse(payloadOf(built.frame)) as { jobs: JobEventData[] };
      expect(message.jobs).toEqual(jobs.slice(0, message.jobs.length));
    }
  });
});

describe('initialLogsFor', () => {
  const json = logs.map((log) => Buffer.from(JSON.stringify(log)));
  const timestamps = ['2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.001Z', '2031-12-31T23:59:59.999Z', '+012024-01-01T00:00:00.000Z'];

  it('reuses the frame built from the same logs, byte for byte what a fresh build gives, at every budget and resume flag', () => {
    const full = initialLogsMessageOf(json, timestamp, { truncated: false }, 1e9).frame.length;
    for (const resume of [undefined, { truncated: false }, { truncated: true }]) {
      for (let budget = 100; budget <= full + 20; budget += 997) {
        let built: BuiltInitialLogs | undefined;
        for (const ts of [...timestamps, ...timestamps]) {
          const next = initialLogsFor(built, json, ts, resume, budget);
          const fresh = initialLogsMessageOf(json, ts, resume, budget);
          expect(Buffer.concat(next.message.frame).equals(fresh.frame)).toBe(true);
          expect(next.message.payload().equals(fresh.payload)).toBe(true);
          built = next.built;
        }
      }
    }
  });

  it('reuses only for the same array, resume flag, budget and timestamp length', () => {
    const first = initialLogsFor(undefined, json, timestamps[0]!, undefined, 1e9);
    expect(initialLogsFor(first.built, json, timestamps[1]!, undefined, 1e9).built).toBe(first.built);
    expect(initialLogsFor(first.built, json, timestamps[3]!, undefined, 1e9).built).not.toBe(first.built);
    expect(initialLogsFor(first.built, [...json], timestamps[1]!, undefined, 1e9).built).not.toBe(first.built);
    expect(initialLogsFor(first.built, json, timestamps[1]!, { truncated: false }, 1e9).built).not.toBe(first.built);
    expect(initialLogsFor(first.built, json, timestamps[1]!, undefined, 1e9 - 1).built).not.toBe(first.built);
    const reused = initialLogsFor(first.built, json, timestamps[1]!, undefined, 1e9).message;
    expect(reused.frame).toHaveLength(2);
    expect(serverMessageSchema.parse(JSON.parse(reused.payload().toString('utf8')))).toMatchObject({ type: 'initial-logs', timestamp: timestamps[1] });
  });
});
