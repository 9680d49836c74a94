import { describe, expect, it } from 'vitest';
import type { StreamMessage } from '../../src/bus/bus.js';
import { RecentLogs } from '../../src/gateway/recent-logs.js';
import type { LogEntry } from '../../src/protocol/log-entry.js';
import type { LogPage } from '../../src/store/log-store.js';

/** A fake store of one user's stream: what a store read of the newest logs would answer at any moment. */
class FakeStream {
  logs: Array<{ seq: number; log: LogEntry }> = [];
  head = 0;
  cleared = 0;

  log(command = `C${this.head + 1}`): StreamMessage {
    const seq = ++this.head;
    const log = { id: `id-${seq}`, timestamp: '2026-01-01T00:00:00.000Z', userId: 'u', emailAccountId: 'a', level: 'info', command, data: {} } as LogEntry;
    this.logs.push({ seq, log });
    return { type: 'log', userId: 'u', seq, log, at: 0 } as StreamMessage;
  }

  clear(): StreamMessage {
    const seq = ++this.head;
    this.logs = [];
    this.cleared = seq;
    return { type: 'logs-cleared', userId: 'u', seq, timestamp: '2026-01-01T00:00:00.000Z' } as StreamMessage;
  }

  /** `{ from: 'tail', limit }` with an optional byte budget cut (by JSON length, enough for a fake). */
  tail(limit: number, maxBytes = Infinity): LogPage {
    const newest = this.logs.slice(-limit);
    let used = 0;
    let keep = 0;
    for (let i = newest.length - 1; i >= 0; i--) {
      const bytes = JSON.stringify(newest[i]!.log).length;
      if (keep > 0 && used + bytes > maxBytes) break;
      used += bytes;
      keep++;
    }
    const logs = newest.slice(newest.length - keep);
    return { logs, truncated: false, headSeq: this.head, clearedSeq: this.cleared, hasMore: this.logs.length > logs.length };
  }

  /** The newest `limit` logs' JSON as UTF-8, as initial-logs carries them. */
  newest(limit: number): Buffer[] {
    return this.tail(limit).logs.map(({ log }) => Buffer.from(JSON.stringify(log)));
  }
}

const jsonOf = (page: LogPage) => page.logs.map(({ log }) => JSON.stringify(log));
const offer = (recent: RecentLogs, message: StreamMessage) => recent.offer(message, () => JSON.stringify((message as { log: LogEntry }).log));
const filled = (recent: RecentLogs, stream: FakeStream, limit: number) => {
  const page = stream.tail(limit);
  recent.fill(recent.beginFill(), page, jsonOf(page));
};

describe('RecentLogs', () => {
  it('answers nothing until filled from a store read', () => {
    expect(new RecentLogs(3, 1e6).newest(1e6)).toBeUndefined();
  });

  it('stays equal to a store read of the newest logs as logs and clears follow in seq order', () => {
    const stream = new FakeStream();
    for (let i = 0; i < 5; i++) stream.log();
    const recent = new RecentLogs(3, 1e6);
    filled(recent, stream, 3);
    expect(recent.newest(1e6)).toEqual({ json: stream.newest(3), headSeq: 5 });
    for (const step of ['log', 'log', 'clear', 'log', 'log', 'log', 'log', 'clear', 'clear', 'log'] as const) {
      offer(recent, step === 'log' ? stream.log() : stream.clear());
      expect(recent.newest(1e6)).toEqual({ json: stream.newest(3), headSeq: stream.head });
      expect(recent.size.logs).toBeLessThanOrEqual(3);
    }
  });

  it('answers newest with one array per state: the same until a log, a clear, a fill or an emptying', () => {
    const stream = new FakeStream();
    for (let i = 0; i < 5; i++) stream.log();
    const recent = new RecentLogs(3, 1e6);
    filled(recent, stream, 3);
    let last = recent.newest(1e6)!.json;
    expect(recent.newest(1e6)!.json).toBe(last);
    const changes = [() => offer(recent, stream.log()), () => offer(recent, stream.clear()), () => offer(recent, stream.log()), () => filled(recent, stream, 3)];
    for (const change of changes) {
      change();
      const now = recent.newest(1e6)!.json;
      expect(now).not.toBe(last);
      expect(now).toEqual(stream.newest(3));
      expect(recent.newest(1e6)!.json).toBe(now);
      last = now;
    }
    recent.resync();
    filled(recent, stream, 3);
    expect(recent.newest(1e6)!.json).not.toBe(last);
    expect(recent.newest(1e6)!.json).toEqual(stream.newest(3));
  });

  it('skips a message it has (a duplicate or one the fill already held)', () => {
    const stream = new FakeStream();
    const early = stream.log();
    const recent = new RecentLogs(3, 1e6);
    filled(recent, stream, 3);
    offer(recent, early);
    offer(recent, early);
    expect(recent.newest(1e6)).toEqual({ json: stream.newest(3), headSeq: 1 });
  });

  it('stops answering after a gap, until filled again', () => {
    const stream = new FakeStream();
    stream.log();
    const recent = new RecentLogs(3, 1e6);
    filled(recent, stream, 3);
    stream.log(); // lost on the bus
    offer(recent, stream.log());
    expect(recent.newest(1e6)).toBeUndefined();
    expect(recent.after('id-1', 1e6)).toBeUndefined();
    filled(recent, stream, 3);
    expect(recent.newest(1e6)).toEqual({ json: stream.newest(3), headSeq: 3 });
  });

  it('stops answering after a resync, and refuses a fill from a read begun before it', () => {
    const stream = new FakeStream();
    stream.log();
    const recent = new RecentLogs(3, 1e6);
    const ticket = recent.beginFill();
    const page = stream.tail(3);
    recent.resync();
    recent.fill(ticket, page, jsonOf(page));
    expect(recent.newest(1e6)).toBeUndefined();
    filled(recent, stream, 3);
    recent.resync();
    expect(recent.newest(1e6)).toBeUndefined();
  });

  it('refuses a fill from a read that may lack a message seen while it was read', () => {
    const stream = new FakeStream();
    stream.log();
    const recent = new RecentLogs(3, 1e6);
    const ticket = recent.beginFill();
    const page = stream.tail(3); // read at head 1
    offer(recent, stream.log()); // seq 2 committed and delivered before the read's answer is taken
    recent.fill(ticket, page, jsonOf(page));
    expect(recent.newest(1e6)).toBeUndefined();
  });

  it('refuses a page the byte budget cut short: the store holds more of the newest logs', () => {
    const stream = new FakeStream();
    for (let i = 0; i < 3; i++) stream.log();
    const recent = new RecentLogs(3, 1e6);
    const page = stream.tail(3, 10); // one log fits
    expect(page.logs).toHaveLength(1);
    recent.fill(recent.beginFill(), page, jsonOf(page));
    expect(recent.newest(1e6)).toBeUndefined();
  });

  it('is bounded in bytes: past its bound it is emptied, and it answers only within the caller\'s budget', () => {
    const stream = new FakeStream();
    stream.log();
    const one = JSON.stringify(stream.logs[0]!.log).length;
    const recent = new RecentLogs(10, one * 2);
    filled(recent, stream, 10);
    expect(recent.newest(one - 1)).toBeUndefined(); // the store's cut might apply: ask it
    offer(recent, stream.log());
    expect(recent.newest(1e6)?.json).toHaveLength(2);
    offer(recent, stream.log('a longer command than before'));
    expect(recent.newest(1e6)).toBeUndefined();
    expect(recent.size).toEqual({ logs: 0, bytes: 0 });
  });

  it('answers a resume from a kept log with every log after it, and nothing for one it does not keep', () => {
    const stream = new FakeStream();
    for (let i = 0; i < 5; i++) stream.log();
    const recent = new RecentLogs(3, 1e6);
    filled(recent, stream, 3);
    expect(recent.after('id-3', 1e6)).toEqual({ json: stream.newest(2), headSeq: 5 });
    expect(recent.after('id-5', 1e6)).toEqual({ json: [], headSeq: 5 });
    expect(recent.after('id-2', 1e6)).toBeUndefined(); // older than what is kept: the store knows
    expect(recent.after('unknown', 1e6)).toBeUndefined();
  });

  it('ignores job events', () => {
    const stream = new FakeStream();
    const recent = new RecentLogs(3, 1e6);
    filled(recent, stream, 3);
    recent.offer({ type: 'job-event', userId: 'u', data: {} } as StreamMessage, () => '');
    offer(recent, stream.log());
    expect(recent.newest(1e6)).toEqual({ json: stream.newest(3), headSeq: 1 });
  });
});
