import { describe, expect, it } from 'vitest';
import type { StreamMessage } from '../../src/bus/bus.js';
import type { LogEntry } from '../../src/protocol/log-entry.js';
import type { LogPage, StoredLog } from '../../src/store/log-store.js';
import { StreamCursor } from '../../src/gateway/stream-cursor.js';

const userId = 'user-1';

function entry(seq: number): LogEntry {
  return { id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`, timestamp: '2024-01-01T00:00:00.000Z', userId, emailAccountId: 'acct', level: 'info', command: `C${seq}`, data: {} };
}
const log = (seq: number): StreamMessage => ({ type: 'log', userId, seq, log: entry(seq), at: 0 });
const cleared = (seq: number): StreamMessage => ({ type: 'logs-cleared', userId, seq, timestamp: '2024-01-01T00:00:01.000Z' });
const job = (status: string): StreamMessage => ({ type: 'job-event', userId, data: { userId, jobId: 'job-1', status } });
const stored = (...seqs: number[]): StoredLog[] => seqs.map((seq) => ({ seq, log: entry(seq) }));
function page(logs: StoredLog[], fields: Partial<Omit<LogPage, 'logs'>> = {}): LogPage {
  return { logs, truncated: false, headSeq: logs.at(-1)?.seq ?? 0, clearedSeq: 0, hasMore: false, ...fields };
}

/** What a message is, for comparing lists of them: `log 3`, `clear 4`, `job done`. */
function named(message: StreamMessage): string {
  if (message.type === 'log') return `log ${message.seq}`;
  if (message.type === 'logs-cleared') return `clear ${message.seq}`;
  return `job ${String(message.data.status)}`;
}

/** A cursor that has joined at `headSeq` with nothing held. */
function liveAt(headSeq: number): StreamCursor {
  const cursor = new StreamCursor();
  cursor.joined(headSeq);
  return cursor;
}

describe('StreamCursor', () => {
  describe('live', () => {
    it('sends the next log and moves its position to it', () => {
      const cursor = liveAt(4);
      expect(cursor.phase).toBe('live');
      expect(cursor.offer(log(5))).toBe('send');
      expect(cursor.offer(log(6))).toBe('send');
      expect(cursor.position).toBe(6);
    });

    it('skips a duplicate, and a log older than its position', () => {
      const cursor = liveAt(4);
      expect(cursor.offer(log(5))).toBe('send');
      expect(cursor.offer(log(5))).toBe('skip');
      expect(cursor.offer(log(3))).toBe('skip');
      expect(cursor.position).toBe(5);
    });

    it('treats a clear as a position in the stream like a log (logs-cleared carries its seq)', () => {
      const cursor = liveAt(4);
      expect(cursor.offer(cleared(5))).toBe('send');
      expect(cursor.offer(cleared(5))).toBe('skip');
      expect(cursor.offer(log(6))).toBe('send');
      expect(cursor.offer(cleared(8))).toBe('gap');
      expect(cursor.position).toBe(6);
    });

    it('sends job events as they come: they carry no seq, and never move the position', () => {
      const cursor = liveAt(4);
      expect(cursor.offer(job('active'))).toBe('send');
      expect(cursor.offer(job('active'))).toBe('send');
      expect(cursor.position).toBe(4);
    });

    it('moves on with every log and clear, whatever the socket follows: the hub, not the cursor, leaves out unsubscribed channels', () => {
      // A socket following only jobs is offered every log too; after a resubscribe to logs its next log is
      // the next seq, not a gap.
      const cursor = liveAt(0);
      for (let seq = 1; seq <= 5; seq++) expect(cursor.offer(log(seq))).toBe('send');
      expect(cursor.offer(log(6))).toBe('send');
      expect(cursor.position).toBe(6);
    });
  });

  describe('a gap', () => {
    it('holds the log after a gap and catches up from the position before it; the page fills the gap, the held log is then a duplicate', () => {
      const cursor = liveAt(4);
      expect(cursor.offer(log(7))).toBe('gap');
      expect(cursor.phase).toBe('catching-up');
      expect(cursor.position).toBe(4);
      expect(cursor.resyncing).toBe(false);
      // What arrives while it catches up is held, in order, duplicates and job events included.
      expect(cursor.offer(log(8))).toBe('hold');
      expect(cursor.offer(job('done'))).toBe('hold');
      expect(cursor.offer(log(6))).toBe('hold');

      const step = cursor.caughtUpTo(page(stored(5, 6, 7)));
      expect(step).toEqual({ cleared: false, logs: stored(5, 6, 7), more: false });
      expect(cursor.position).toBe(7);
      const release = cursor.caughtUp();
      expect(release.send.map(named)).toEqual(['log 8', 'job done']);
      expect(release.catchUp).toBeUndefined();
      expect(cursor.phase).toBe('live');
      expect(cursor.position).toBe(8);
      expect(cursor.offer(log(9))).toBe('send');
    });

    it('sends the log after the gap from what it held when the page ends before it (a read shared with a socket at the same position, begun before that log was stored)', () => {
      const cursor = liveAt(4);
      expect(cursor.offer(log(7))).toBe('gap');
      cursor.caughtUpTo(page(stored(5, 6), { headSeq: 6 }));
      expect(cursor.caughtUp().send.map(named)).toEqual(['log 7']);
      expect(cursor.position).toBe(7);
    });

    it('sends only what a page holds after its position (a shared read may start before it)', () => {
      const cursor = liveAt(5);
      cursor.offer(log(9));
      const step = cursor.caughtUpTo(page(stored(4, 5, 6, 7, 8, 9)));
      expect(step.logs).toEqual(stored(6, 7, 8, 9));
      expect(cursor.caughtUp().send).toEqual([]);
    });

    it('reads page after page from its position while the store says there is more', () => {
      const cursor = liveAt(0);
      cursor.offer(log(6));
      expect(cursor.caughtUpTo(page(stored(1, 2, 3), { headSeq: 6, hasMore: true }))).toMatchObject({ more: true });
      expect(cursor.position).toBe(3);
      expect(cursor.caughtUpTo(page(stored(4, 5, 6), { headSeq: 6 }))).toMatchObject({ logs: stored(4, 5, 6), more: false });
      expect(cursor.position).toBe(6);
    });

    it('takes the last page up to its headSeq: what the store lacks below it was trimmed or cleared', () => {
      const cursor = liveAt(2);
      cursor.offer(log(9));
      cursor.caughtUpTo(page(stored(7), { headSeq: 8 }));
      expect(cursor.position).toBe(8);
      expect(cursor.caughtUp().send.map(named)).toEqual(['log 9']);
    });

    it('says a clear happened after its position when the page says so, and goes on after it', () => {
      const cursor = liveAt(3);
      cursor.offer(log(7));
      const step = cursor.caughtUpTo(page(stored(6, 7), { clearedSeq: 5, headSeq: 7 }));
      expect(step.cleared).toBe(true);
      expect(step.logs).toEqual(stored(6, 7));
      expect(cursor.position).toBe(7);
      // A clear the socket had already is not sent again.
      const again = liveAt(5);
      again.offer(log(7));
      expect(again.caughtUpTo(page(stored(6, 7), { clearedSeq: 5, headSeq: 7 })).cleared).toBe(false);
    });

    it('a clear held during a catch-up that the page already covered is a duplicate', () => {
      const cursor = liveAt(3);
      cursor.offer(log(6));
      cursor.offer(cleared(7));
      cursor.caughtUpTo(page([], { clearedSeq: 7, headSeq: 7 }));
      expect(cursor.position).toBe(7);
      expect(cursor.caughtUp().send).toEqual([]);
    });

    it('a gap among what it held during a catch-up: sends up to it, keeps the rest held behind it, and catches up again', () => {
      const cursor = liveAt(0);
      cursor.offer(log(3));
      cursor.offer(log(4));
      cursor.offer(job('a'));
      cursor.offer(log(8)); // 5..7 lost too
      cursor.offer(job('b'));
      cursor.offer(log(9));
      cursor.caughtUpTo(page(stored(1, 2, 3)));
      const release = cursor.caughtUp();
      expect(release.send.map(named)).toEqual(['log 4', 'job a']);
      expect(release.catchUp).toBe('gap');
      expect(cursor.phase).toBe('catching-up');
      expect(cursor.position).toBe(4);
      expect(cursor.offer(log(10))).toBe('hold');

      // A read that ends before 8 (shared, begun before 8 was stored): 8 comes from what was held.
      cursor.caughtUpTo(page(stored(5, 6, 7)));
      expect(cursor.caughtUp().send.map(named)).toEqual(['log 8', 'job b', 'log 9', 'log 10']);
      expect(cursor.phase).toBe('live');
    });
  });

  describe('joining', () => {
    it('holds everything while joining, then sends what follows the backlog, in order, and skips what the backlog had', () => {
      const cursor = new StreamCursor();
      expect(cursor.phase).toBe('joining');
      expect(cursor.offer(log(4))).toBe('hold');
      expect(cursor.offer(job('a'))).toBe('hold');
      expect(cursor.offer(log(5))).toBe('hold');
      expect(cursor.offer(cleared(6))).toBe('hold');
      expect(cursor.offer(log(7))).toBe('hold');
      expect(cursor.phase).toBe('joining');

      // The backlog was read up to 5.
      const release = cursor.joined(5);
      expect(release.send.map(named)).toEqual(['job a', 'clear 6', 'log 7']);
      expect(release.catchUp).toBeUndefined();
      expect(cursor.phase).toBe('live');
      expect(cursor.position).toBe(7);
    });

    it('drops the job events held before its jobs read (the read holds them), and keeps those held after', () => {
      const cursor = new StreamCursor();
      cursor.offer(job('queued'));
      cursor.offer(log(1));
      cursor.offer(job('active'));
      cursor.readingJobs();
      cursor.offer(job('done'));
      cursor.offer(log(2));
      expect(cursor.joined(0).send.map(named)).toEqual(['log 1', 'job done', 'log 2']);
    });

    it('keeps every held job event when it read no jobs (the socket does not follow them)', () => {
      const cursor = new StreamCursor();
      cursor.offer(job('queued'));
      cursor.offer(job('active'));
      expect(cursor.joined(0).send.map(named)).toEqual(['job queued', 'job active']);
    });

    it('a gap between the backlog and what it held: catches up from the backlog before sending anything after the gap', () => {
      const cursor = new StreamCursor();
      cursor.offer(log(9));
      cursor.offer(log(10));
      const release = cursor.joined(6);
      expect(release.send).toEqual([]);
      expect(release.catchUp).toBe('gap');
      expect(cursor.position).toBe(6);
      cursor.caughtUpTo(page(stored(7, 8, 9)));
      expect(cursor.caughtUp().send.map(named)).toEqual(['log 10']);
    });

    it('rejects a second join or a catch-up page while joining: those are the hub’s bugs, not the stream’s', () => {
      const cursor = liveAt(0);
      expect(() => cursor.joined(0)).toThrow(/joined while live/);
      expect(() => new StreamCursor().caughtUpTo(page([]))).toThrow(/while joining/);
      expect(() => new StreamCursor().caughtUp()).toThrow(/while joining/);
    });
  });

  describe('resync (the bus may have lost messages)', () => {
    it('live: catches up at once from its position, and owes the job state', () => {
      const cursor = liveAt(3);
      expect(cursor.resync()).toBe(true);
      expect(cursor.phase).toBe('catching-up');
      expect(cursor.resyncing).toBe(true);
      expect(cursor.offer(log(4))).toBe('hold');
      cursor.caughtUpTo(page(stored(4, 5)));
      expect(cursor.resyncing).toBe(true); // until the catch-up ends: the job state is sent before the held messages
      expect(cursor.caughtUp()).toEqual({ send: [], catchUp: undefined });
      expect(cursor.resyncing).toBe(false);
      expect(cursor.position).toBe(5);
    });

    it('drops the job events held before the resync’s jobs read, like a join', () => {
      const cursor = liveAt(0);
      cursor.resync();
      cursor.offer(job('active'));
      cursor.caughtUpTo(page([]));
      cursor.readingJobs();
      cursor.offer(job('done'));
      expect(cursor.caughtUp().send.map(named)).toEqual(['job done']);
    });

    it('during a join: the join ends as usual, then a catch-up that owes the job state follows', () => {
      const cursor = new StreamCursor();
      cursor.offer(log(3));
      expect(cursor.resync()).toBe(false);
      expect(cursor.phase).toBe('joining');
      const release = cursor.joined(2);
      expect(release.send.map(named)).toEqual(['log 3']);
      expect(release.catchUp).toBe('resync');
      expect(cursor.phase).toBe('catching-up');
      expect(cursor.resyncing).toBe(true);
      expect(cursor.position).toBe(3);
      cursor.caughtUpTo(page(stored(3)));
      expect(cursor.caughtUp().catchUp).toBeUndefined();
      expect(cursor.phase).toBe('live');
    });

    it('during a catch-up for a gap: that one ends, then a resync catch-up follows', () => {
      const cursor = liveAt(0);
      cursor.offer(log(2));
      expect(cursor.resync()).toBe(false);
      expect(cursor.resyncing).toBe(false); // the running read may have started before the fault
      cursor.caughtUpTo(page(stored(1, 2)));
      const release = cursor.caughtUp();
      expect(release.catchUp).toBe('resync');
      expect(cursor.resyncing).toBe(true);
      cursor.caughtUpTo(page(stored(1, 2)));
      expect(cursor.caughtUp().catchUp).toBeUndefined();
    });

    it('during a resync catch-up: another one follows it (its read may have started before the second fault)', () => {
      const cursor = liveAt(0);
      cursor.resync();
      expect(cursor.resync()).toBe(false);
      cursor.caughtUpTo(page([]));
      expect(cursor.caughtUp().catchUp).toBe('resync');
      cursor.caughtUpTo(page([]));
      expect(cursor.caughtUp().catchUp).toBeUndefined();
    });

    it('owed while a gap shows among what it held: the catch-up for that gap serves the resync too', () => {
      const cursor = new StreamCursor();
      cursor.offer(log(9));
      cursor.resync();
      const release = cursor.joined(5);
      expect(release.catchUp).toBe('gap');
      expect(cursor.resyncing).toBe(true);
      cursor.caughtUpTo(page(stored(6, 7, 8, 9)));
      expect(cursor.caughtUp()).toEqual({ send: [], catchUp: undefined });
    });
  });

  describe('stopped (the socket is closing)', () => {
    it('lets go of what it held and skips everything after', () => {
      const cursor = new StreamCursor();
      cursor.offer(log(1));
      cursor.stop();
      expect(cursor.phase).toBe('stopped');
      expect(cursor.offer(log(2))).toBe('skip');
      expect(cursor.resync()).toBe(false);
      expect(cursor.joined(0)).toEqual({ send: [], catchUp: undefined });
      expect(cursor.phase).toBe('stopped');
    });

    it('drops a catch-up the socket closed during', () => {
      const cursor = liveAt(0);
      cursor.offer(log(3));
      cursor.stop();
      expect(cursor.caughtUpTo(page(stored(1, 2, 3)))).toEqual({ cleared: false, logs: [], more: false });
      expect(cursor.caughtUp()).toEqual({ send: [], catchUp: undefined });
      expect(cursor.position).toBe(0);
    });
  });
});
