import type { StreamMessage } from '../bus/bus.js';
import type { LogPage } from '../store/log-store.js';

/**
 * The newest logs of a followed user, kept in memory in step with the stream, so that a connect (and a
 * resume from one of them) is answered without the store: most sockets of a user open while others are
 * open, and their initial-logs is the same newest INITIAL_LOGS.
 *
 * It must never answer differently from the store read it replaces, so it is kept by seq, as a cursor is:
 * - it is filled only from a store read of the newest logs made after the node followed the user, and only
 *   when no message newer than that read's head was seen meanwhile (the read may lack it);
 * - it takes only committed messages from the one delivery path (the bus), in seq order: the next log is
 *   appended (the oldest dropped past the count), a clear empties it, an old one is skipped, and one after
 *   a gap empties it (`valid` false) until the next fill;
 * - a bus resync empties it too, and a fill from a read begun before an emptying is ignored (epoch);
 * - it holds a log's JSON (what initial-logs carries), and answers only when the logs' JSON adds up to no
 *   more than the caller's byte budget: a log's JSON is longer than its stored size, so the store's own byte
 *   cut would not have applied either.
 *
 * Bounded: at most `maxLogs` entries and `maxBytes` bytes of JSON per user (past it: emptied until the next
 * fill), and the hub drops it with the user's last local socket.
 */
export class RecentLogs {
  /** Oldest first. */
  private entries: RecentLog[] = [];
  private bytes = 0;
  /** The seq up to which `entries` is the stream's newest logs; meaningful while `valid`. */
  private head = 0;
  private isValid = false;
  /** The highest seq seen from the stream, valid or not: a fill from a read older than that is refused. */
  private seen = 0;
  /** Moves on at every emptying: a fill from a read begun before it is refused. */
  private epoch = 0;
  /**
   * What `newest` answers, made once per change: the same array for every connect until the next log,
   * clear or emptying, so the hub can reuse the initial-logs it built from it (see hub.ts).
   */
  private newestJson: Buffer[] | undefined;

  constructor(
    /** The most logs kept: INITIAL_LOGS (never past retention, MAX_LOGS_PER_USER). */
    private readonly maxLogs: number,
    private readonly maxBytes: number,
  ) {}

  /** Whether it holds the stream's newest logs now (it may still not answer a budget they pass). */
  get valid(): boolean {
    return this.isValid;
  }

  /** A ticket for a store read about to begin: `fill` takes the read's page only with it. */
  beginFill(): number {
    return this.epoch;
  }

  /**
   * The page of a store read `{ from: 'tail', limit: maxLogs }` begun with `ticket`, each log's JSON in
   * `json` (same order). Kept when it is the whole newest `maxLogs` (not cut short by bytes) and nothing
   * newer was seen while it was read.
   */
  fill(ticket: number, page: LogPage, json: readonly string[]): void {
    if (ticket !== this.epoch || this.seen > page.headSeq) return;
    // Cut short by the byte budget: the store holds more of the newest maxLogs than the page.
    if (page.hasMore && page.logs.length < this.maxLogs) return;
    const entries: RecentLog[] = [];
    let bytes = 0;
    for (let i = 0; i < page.logs.length; i++) {
      const { seq, log } = page.logs[i]!;
      const utf8 = Buffer.from(json[i]!);
      entries.push({ seq, id: log.id, json: utf8 });
      bytes += utf8.length;
    }
    if (bytes > this.maxBytes) return;
    this.entries = entries;
    this.newestJson = undefined;
    this.bytes = bytes;
    this.head = page.headSeq;
    this.seen = page.headSeq;
    this.isValid = true;
  }

  /** A committed message of the user's stream, as the bus hands it over; `json` gives a log's JSON. */
  offer(message: StreamMessage, json: () => string): void {
    if (message.type === 'job-event') return;
    if (message.seq > this.seen) this.seen = message.seq;
    if (!this.isValid || message.seq <= this.head) return;
    if (message.seq !== this.head + 1) return this.empty();
    this.head = message.seq;
    this.newestJson = undefined;
    if (message.type === 'logs-cleared') {
      this.entries = [];
      this.bytes = 0;
      return;
    }
    const utf8 = Buffer.from(json());
    this.entries.push({ seq: message.seq, id: message.log.id, json: utf8 });
    this.bytes += utf8.length;
    if (this.entries.length > this.maxLogs) this.bytes -= this.entries.shift()!.json.length;
    if (this.bytes > this.maxBytes) this.empty();
  }

  /** The bus may have lost messages: nothing kept can be trusted. */
  resync(): void {
    this.empty();
  }

  /**
   * The newest logs' JSON as UTF-8 (oldest first) and the head they are the stream up to, as a store read of the
   * newest `maxLogs` within `budget` bytes would give them; undefined when that cannot be told here.
   */
  newest(budget: number): RecentAnswer | undefined {
    if (!this.isValid || this.bytes > budget) return undefined;
    return { json: (this.newestJson ??= this.entries.map((e) => e.json)), headSeq: this.head };
  }

  /**
   * The logs after the log `id` (a resume), as a store read `{ from: 'id' }` would give them, when `id` is
   * one of the kept logs: they are then every stored log after it. Undefined otherwise (ask the store).
   */
  after(id: string, budget: number): RecentAnswer | undefined {
    if (!this.isValid || this.bytes > budget) return undefined;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i]!.id === id) return { json: this.entries.slice(i + 1).map((e) => e.json), headSeq: this.head };
    }
    return undefined;
  }

  /** How much is kept (tests and metrics). */
  get size(): { logs: number; bytes: number } {
    return { logs: this.entries.length, bytes: this.bytes };
  }

  private empty(): void {
    this.entries = [];
    this.newestJson = undefined;
    this.bytes = 0;
    this.isValid = false;
    this.epoch++;
  }
}

interface RecentLog {
  seq: number;
  id: string;
  /**
   * The UTF-8 of `JSON.stringify(log)`, what initial-logs carries (copied as is into its frame). Its length
   * is never less than the log's stored size, which the store's byte budget counts.
   */
  json: Buffer;
}

export interface RecentAnswer {
  /** Each log's JSON as UTF-8, oldest first; from `newest`, one array per state, not to be changed. */
  json: readonly Buffer[];
  /** The user's last seq these logs are the stream up to: the joining cursor's position. */
  headSeq: number;
}
