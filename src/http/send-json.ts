import type http from 'node:http';

/**
 * `status` with `json` (already serialized) as the whole body: the bytes Express's res.json writes with
 * its default settings, written directly, so that an answer is the same whether Express or the ingest
 * lane (ingest-lane.ts) carries the request, and costs no type, charset or freshness handling.
 */
export function sendJson(res: http.ServerResponse, status: number, json: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/** How a streamed answer treats a client that stops reading. */
export interface SendOptions {
  /** An answer that cannot send anything for this long is cut (HTTP_SEND_TIMEOUT_MS). */
  stallMs: number;
  onStall?: () => void;
}

/** Parts are gathered up to this many characters per write: one write per small log would cost a syscall each. */
const WRITE_CHARS = 16 * 1024;

/**
 * Answers 200 with a JSON body made of `parts` (strings whose concatenation is the body), writing them
 * as they come and waiting for the socket to drain whenever it holds more than its high-water mark, so
 * the answer holds at most about one part plus WRITE_CHARS unsent, however slowly its client reads.
 * Headers go out with the first write: a part that fails before it still gets a normal error answer.
 * Stops reading parts when the client goes away, and cuts the answer (calling `onStall`) when nothing
 * could be sent for `stallMs`.
 */
export async function sendJsonParts(res: http.ServerResponse, parts: AsyncIterable<string> | Iterable<string>, options: SendOptions): Promise<void> {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  let pending = '';
  for await (const part of parts) {
    if (res.destroyed) return; // the client went away: the loop's exit ends the parts' reads
    pending += part;
    if (pending.length < WRITE_CHARS) continue;
    const flushed = res.write(pending);
    pending = '';
    if (!flushed && !(await drained(res, options))) return;
  }
  if (!res.destroyed) res.end(pending);
}

/** True once `res` drains; false if it closes first or stays full for `stallMs` (then it is cut). */
function drained(res: http.ServerResponse, options: SendOptions): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => {
      done(false);
      options.onStall?.();
      res.destroy();
    }, options.stallMs);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
