import type { StreamMessage } from '../bus/bus.js';
import type { LogPage, StoredLog } from '../store/log-store.js';

/**
 * Where a socket is in its user's stream:
 * - joining: its backlog (initial-logs) is being read; stream messages are held;
 * - catching-up: a gap (or a possible loss on the bus) is being filled from the store; messages are held;
 * - live: messages are delivered as they come;
 * - stopped: the socket is closing; nothing is held or sent any more.
 */
export type StreamPhase = 'joining' | 'catching-up' | 'live' | 'stopped';

/**
 * What to do with a message offered to the cursor:
 * - send: it is the socket's next one (for its channels: the cursor does not know them);
 * - hold: the cursor keeps it until the socket is joined or caught up;
 * - skip: the socket has it already (a duplicate), or the cursor is stopped;
 * - gap: messages are missing before it; the cursor holds it and is catching up: read the store from
 *   `position`.
 */
export type Offer = 'send' | 'hold' | 'skip' | 'gap';

/**
 * What the cursor lets go of when a join or a catch-up ends: the held messages to send now, in order, and
 * whether the socket must catch up (again) right after them, from `position`: for a gap among them (the
 * rest stays held behind it), or for a resync that was owed meanwhile.
 */
export interface Release {
  send: readonly StreamMessage[];
  catchUp: 'gap' | 'resync' | undefined;
}

/** One page of a catch-up, as the socket must be sent it. */
export interface CatchUpStep {
  /** The user's logs were cleared after the socket's position: send `logs-cleared` before `logs`. */
  cleared: boolean;
  /** The page's logs the socket does not have yet, oldest first. */
  logs: readonly StoredLog[];
  /** The page was not the last: read the next one from `position`. */
  more: boolean;
}

const NO_MESSAGES: readonly StreamMessage[] = [];
const NOTHING_HELD: Release = { send: [], catchUp: undefined };
const NOTHING_READ: CatchUpStep = { cleared: false, logs: [], more: false };

/**
 * The one owner of a socket's position in its user's stream (centrifuge's client-side
 * `writePublicationUpdatePosition`): it decides what of the stream the socket is sent, so that it gets
 * every log and clear exactly once and in order, whatever reaches it twice, late or never.
 *
 * Logs and clears carry the stream's `seq`: the next one is sent, an older one skipped, a newer one means
 * messages are missing and a catch-up from the store. Job events carry no seq; they are sent as they come,
 * and held like the rest while the socket joins or catches up. The position moves on with every log and
 * clear, whether or not the socket follows their channel, so unsubscribing never opens a gap.
 *
 * The cursor never touches the store or the socket: it tells, and the hub reads and sends. Its state is
 * private, so the decisions are made here only, and it is tested alone (test/unit/stream-cursor.test.ts).
 */
export class StreamCursor {
  private current: StreamPhase = 'joining';
  /** The seq of the last log or clear the socket was sent (or skipped for its channels). */
  private last = 0;
  /**
   * What arrived while joining or catching up, in arrival order; made when the first message is held (most
   * sockets join with nothing arriving meanwhile, and an idle socket keeps no array: memory per socket).
   */
  private held: StreamMessage[] | undefined;
  /** How many held messages came before the jobs read began (-1: no jobs read in this join or catch-up). */
  private heldBeforeJobsRead = -1;
  /** The bus may have lost messages while this cursor was joining or catching up: catch up again after. */
  private resyncOwed = false;
  /** The catch-up under way answers a resync: the job state is sent again at its end. */
  private resyncRunning = false;

  get phase(): StreamPhase {
    return this.current;
  }

  /** The seq of the last log or clear the socket has; a catch-up reads after it. */
  get position(): number {
    return this.last;
  }

  /**
   * True while the catch-up under way answers a resync: job events carry no seq, so the socket must be
   * sent the stored job state (`initial-jobs`) again before what is held.
   */
  get resyncing(): boolean {
    return this.resyncRunning;
  }

  /** A message of the user's stream, as the bus hands it over. */
  offer(message: StreamMessage): Offer {
    // Live first: it is the fan-out's path, once per message and socket.
    if (this.current === 'live') {
      const offer = this.advance(message);
      if (offer === 'gap') {
        (this.held ??= []).push(message);
        this.startCatchUp(false);
      }
      return offer;
    }
    if (this.current === 'stopped') return 'skip';
    (this.held ??= []).push(message);
    return 'hold';
  }

  /**
   * The stored job state is about to be read (a join's, or a resync's): the job events held so far were
   * committed before, so the read holds them already, and sending them after it would only move a job's
   * progress back for a moment. They are dropped at the release.
   */
  readingJobs(): void {
    this.heldBeforeJobsRead = this.held?.length ?? 0;
  }

  /** The socket was sent its backlog, which holds the stream up to `headSeq`. */
  joined(headSeq: number): Release {
    if (!this.isIn('joining', 'joined')) return NOTHING_HELD;
    this.last = headSeq;
    return this.release();
  }

  /** A page of the catch-up, read from the store after `position`: what of it to send. */
  caughtUpTo(page: LogPage): CatchUpStep {
    if (!this.isIn('catching-up', 'caughtUpTo')) return NOTHING_READ;
    const cleared = page.clearedSeq > this.last;
    // Oldest first: what the socket has is a prefix of the page.
    let first = 0;
    while (first < page.logs.length && page.logs[first]!.seq <= this.last) first++;
    const logs = first === 0 ? page.logs : page.logs.slice(first);
    if (logs.length > 0) this.last = logs[logs.length - 1]!.seq;
    // Every event up to headSeq is committed: what the last page lacks was cleared or trimmed.
    if (!page.hasMore) this.last = Math.max(this.last, page.headSeq);
    return { cleared, logs, more: page.hasMore };
  }

  /** The catch-up read its last page (and the job state, when resyncing) and sent it. */
  caughtUp(): Release {
    if (!this.isIn('catching-up', 'caughtUp')) return NOTHING_HELD;
    return this.release();
  }

  /**
   * The bus may have lost messages. True: catch up now, from `position` (the cursor was live and is
   * catching up). False: the join or catch-up under way may have missed them too, so another catch-up
   * is owed when it ends (its release says so).
   */
  resync(): boolean {
    if (this.current === 'stopped') return false;
    if (this.current !== 'live') {
      this.resyncOwed = true;
      return false;
    }
    this.startCatchUp(true);
    return true;
  }

  /** The socket is closing: nothing more will be sent, so nothing is kept. */
  stop(): void {
    this.current = 'stopped';
    this.held = undefined;
  }

  /**
   * False when stopped (the socket closed while the hub was reading: what it read is dropped); throws when
   * the hub calls `method` in another phase than `phase`, which is a bug of the hub, not of the stream.
   */
  private isIn(phase: StreamPhase, method: string): boolean {
    if (this.current === phase) return true;
    if (this.current === 'stopped') return false;
    throw new Error(`StreamCursor.${method} while ${this.current}`);
  }

  /** Where a live cursor stands with a message: the next one, one it has, or one after a gap. */
  private advance(message: StreamMessage): 'send' | 'skip' | 'gap' {
    if (message.type === 'job-event') return 'send';
    if (message.seq <= this.last) return 'skip';
    if (message.seq > this.last + 1) return 'gap';
    this.last = message.seq;
    return 'send';
  }

  /** A catch-up for a gap serves a resync that was owed too: its reads begin after the fault. */
  private startCatchUp(resync: boolean): void {
    this.current = 'catching-up';
    this.resyncRunning = resync || this.resyncOwed;
    this.resyncOwed = false;
    this.heldBeforeJobsRead = -1;
  }

  /**
   * Goes live and lets go of what was held, in order: up to a gap among it (the rest stays held behind it
   * while that is caught up), or all of it, followed by the catch-up of a resync owed meanwhile.
   */
  private release(): Release {
    const held = this.held ?? NO_MESSAGES;
    const jobsRead = this.heldBeforeJobsRead;
    this.current = 'live';
    this.resyncRunning = false;
    this.heldBeforeJobsRead = -1;
    this.held = undefined;
    const send: StreamMessage[] = [];
    for (let i = 0; i < held.length; i++) {
      const message = held[i]!;
      if (i < jobsRead && message.type === 'job-event') continue;
      const offer = this.advance(message);
      if (offer === 'send') send.push(message);
      else if (offer === 'gap') {
        this.held = held.slice(i);
        this.startCatchUp(false);
        return { send, catchUp: 'gap' };
      }
    }
    if (this.resyncOwed) {
      this.startCatchUp(true);
      return { send, catchUp: 'resync' };
    }
    return send.length === 0 ? NOTHING_HELD : { send, catchUp: undefined };
  }
}
