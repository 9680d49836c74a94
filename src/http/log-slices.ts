import type { LogPage, LogQuery } from '../store/log-store.js';

/** What a sliced read ends with: the flags of the page it stands for. */
export interface SlicedPageEnd {
  truncated: boolean;
  hasMore: boolean;
}

/** The first slice is small (an entry can be about 650 KB); later ones are sized by the largest entry seen. */
const FIRST_SLICE = 4;
const MAX_SLICE = 1000;

/**
 * Reads the page `query` asks for — as one `read(query)` would answer it — in slices of about
 * `budgetChars` of JSON each, yielding each slice as the JSON text of its logs, and returning the
 * page's `truncated` and `hasMore`. A page of a thousand 650 KB entries is never in memory at once: the
 * caller writes a slice out before the next is read.
 *
 * Slices are separate reads, each from its own snapshot. What keeps them one page is the store's
 * contract: a user's logs after the last clear have contiguous sequence numbers, the oldest trimmed
 * first. So the newest N logs are those after `max(clearedSeq, headSeq - N)`, and older ones exist
 * when the log at that seq does; and each slice must start right after the previous one. If the logs
 * change under a long read in a way the answer cannot hide (a clear, or retention trimming logs not yet
 * sent), the page ends early with `hasMore: true`: asking again with `since` = the last id sent goes on
 * from there, or reports `truncated`.
 */
export async function* readLogSlices(
  read: (query: LogQuery) => Promise<LogPage>,
  query: LogQuery,
  budgetChars: number,
): AsyncGenerator<string[], SlicedPageEnd> {
  let next: { from: 'id'; id: string } | { from: 'seq'; seq: number };
  /** Tail reads: the seq whose log, if stored, means older logs exist (read as the first slice's first). */
  let olderAt: number | undefined;
  /** Tail reads: the head when the read started; later logs are not part of the page. */
  let upTo = Infinity;
  let clearedSeq: number | undefined;
  if (query.from === 'tail') {
    const head = await read({ from: 'seq', seq: Number.MAX_SAFE_INTEGER, limit: 1 }); // flags only, no logs
    if (query.limit === 0 || head.headSeq === head.clearedSeq) return { truncated: false, hasMore: false };
    const start = Math.max(head.clearedSeq, head.headSeq - query.limit);
    olderAt = start > head.clearedSeq ? start : undefined;
    next = { from: 'seq', seq: olderAt === undefined ? start : start - 1 };
    upTo = head.headSeq;
    clearedSeq = head.clearedSeq;
  } else {
    next = query.from === 'id' ? { from: 'id', id: query.id } : { from: 'seq', seq: query.seq };
  }

  let remaining = query.limit;
  let sliceSize = FIRST_SLICE;
  let truncated = false;
  let hasMore = false;
  let lastSeq: number | undefined;
  while (remaining > 0) {
    const extra = lastSeq === undefined && olderAt !== undefined ? 1 : 0;
    const page = await read({ ...next, limit: Math.min(sliceSize, remaining) + extra });
    if (lastSeq === undefined && next.from === 'id') truncated = page.truncated;
    clearedSeq ??= page.clearedSeq;
    let logs = page.logs;
    if (lastSeq === undefined && olderAt !== undefined && logs[0]?.seq === olderAt) {
      hasMore = true;
      logs = logs.slice(1);
    }
    const changed = page.clearedSeq !== clearedSeq || (lastSeq !== undefined && logs.length > 0 && logs[0]!.seq !== lastSeq + 1);
    if (changed) return { truncated, hasMore: true };
    const inPage = logs.filter((log) => log.seq <= upTo);
    if (inPage.length === 0) break;
    const texts = inPage.map((log) => JSON.stringify(log.log));
    yield texts;
    remaining -= inPage.length;
    lastSeq = inPage[inPage.length - 1]!.seq;
    if (upTo !== Infinity) {
      if (lastSeq >= upTo) break;
    } else if (remaining === 0 || !page.hasMore) {
      hasMore = page.hasMore;
      break;
    }
    const largest = Math.max(...texts.map((text) => text.length));
    sliceSize = Math.max(1, Math.min(MAX_SLICE, Math.floor(budgetChars / largest)));
    next = { from: 'seq', seq: lastSeq };
  }
  return { truncated, hasMore };
}
