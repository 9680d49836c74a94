import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import { textFrameOf } from './socket-writes.js';

/**
 * The messages a socket starts with (`initial-logs`, `initial-jobs`), each built to fit a byte budget.
 * They are what a socket holds unsent right after it joins, so together they stay within the socket's
 * MAX_BUFFERED_BYTES: a client that never reads then costs the server that much, not the user's whole
 * history (100 logs of up to ~650 KB each, or every stored log after `since`).
 *
 * Each is serialized straight into the one buffer that is written (see textFrameOf).
 */

/** A server message serialized into a text frame once; `payload` is the frame's payload (a view into it). */
export interface FramedMessage {
  frame: Buffer;
  payload: Buffer;
}

/**
 * `initial-logs` of at most `maxBytes`: the newest of `logs` (oldest first, as stored) that fit, oldest
 * first. With `resume` (a join with `since`) the message says `truncated`: true when the store already
 * found a hole (`resume.truncated`) or when logs had to be left out here, false when it holds every log.
 */
export function initialLogsMessage(
  logs: readonly LogEntry[],
  timestamp: string,
  resume: { truncated: boolean } | undefined,
  maxBytes: number,
): FramedMessage & { complete: boolean } {
  return initialLogsMessageOf(logs.map((log) => JSON.stringify(log)), timestamp, resume, maxBytes);
}

/**
 * The same from each log's JSON (`JSON.stringify(log)`, or its UTF-8), serialized beforehand: the hub's
 * RecentLogs (recent-logs.ts) keeps them as UTF-8, and a connect then serializes and encodes no log again.
 */
export function initialLogsMessageOf(
  logs: readonly (string | Buffer)[],
  timestamp: string,
  resume: { truncated: boolean } | undefined,
  maxBytes: number,
): FramedMessage & { complete: boolean } {
  return arrayMessage(
    '{"type":"initial-logs","logs":[',
    logs,
    'newest',
    (complete) => `]${resume ? `,"truncated":${resume.truncated || !complete}` : ''},"timestamp":${JSON.stringify(timestamp)}}`,
    maxBytes,
  );
}

/** A message ready for a socket: its frame's parts (written one after the other), or its payload alone. */
export interface OutgoingMessage {
  frame: readonly Buffer[];
  payload(): Buffer;
}

/** An initial-logs built for one connect, kept to answer the next connects of the same logs (see below). */
export interface BuiltInitialLogs {
  logs: readonly (string | Buffer)[];
  truncated: boolean | undefined;
  maxBytes: number;
  message: FramedMessage;
  /** The bytes of its last part, `"<timestamp>"}`: the one part that differs between connects. */
  tailLength: number;
}

/**
 * initialLogsMessageOf, reusing `built` when it was made from the same `logs` array (a RecentLogs answer:
 * one array per state of the user's newest logs) with the same resume flag and budget: every byte but the
 * timestamp is then the same, so the frame is the built one up to its timestamp and a new tail, and a
 * connect copies no log. The timestamp's length is part of the frame's length (and of what fits), so a
 * timestamp of another length builds anew. Returns the message and what to keep for the next connect.
 */
export function initialLogsFor(
  built: BuiltInitialLogs | undefined,
  logs: readonly (string | Buffer)[],
  timestamp: string,
  resume: { truncated: boolean } | undefined,
  maxBytes: number,
): { message: OutgoingMessage; built: BuiltInitialLogs } {
  const tail = `${JSON.stringify(timestamp)}}`;
  const tailLength = Buffer.byteLength(tail);
  const truncated = resume?.truncated;
  if (!built || built.logs !== logs || built.truncated !== truncated || built.maxBytes !== maxBytes || built.tailLength !== tailLength) {
    const message = initialLogsMessageOf(logs, timestamp, resume, maxBytes);
    const fresh = { logs, truncated, maxBytes, message, tailLength };
    return { message: { frame: [message.frame], payload: () => message.payload }, built: fresh };
  }
  const { frame, payload } = built.message;
  const tailBytes = Buffer.from(tail);
  return {
    message: {
      frame: [frame.subarray(0, frame.length - tailLength), tailBytes],
      payload: () => Buffer.concat([payload.subarray(0, payload.length - tailLength), tailBytes]),
    },
    built,
  };
}

/**
 * `initial-jobs` of at most `maxBytes`: the first of `jobs` (most recently updated first) that fit; the
 * rest are left out, as the least recently updated jobs are once there are more than MAX_JOBS_PER_USER.
 */
export function initialJobsMessage(jobs: readonly JobEventData[], timestamp: string, maxBytes: number): FramedMessage {
  return arrayMessage('{"type":"initial-jobs","jobs":[', jobs.map((job) => JSON.stringify(job)), 'first', () => `],"timestamp":${JSON.stringify(timestamp)}}`, maxBytes);
}

/** The longest frame header (RFC 6455 §5.2): a payload over 64 KiB has a 64-bit length. */
const MAX_FRAME_HEADER = 10;

/**
 * `prefix`, as many of `items` (each one's JSON) as fit (the last ones, or the first ones, kept in their order), then
 * `suffix(complete)`, framed in at most `maxBytes` (unless even the message without items is larger).
 */
function arrayMessage(
  prefix: string,
  items: readonly (string | Buffer)[],
  keep: 'newest' | 'first',
  suffix: (complete: boolean) => string,
  maxBytes: number,
): FramedMessage & { complete: boolean } {
  const prefixBytes = Buffer.byteLength(prefix);
  // The suffix is written once it is known whether every item fits: room is left for the longer one.
  const room = maxBytes - MAX_FRAME_HEADER - prefixBytes - Math.max(Buffer.byteLength(suffix(true)), Buffer.byteLength(suffix(false)));
  const chosen: Array<string | Buffer> = [];
  let itemBytes = 0;
  for (let k = 0; k < items.length; k++) {
    const json = items[keep === 'newest' ? items.length - 1 - k : k]!;
    const bytes = Buffer.byteLength(json) + (chosen.length > 0 ? 1 : 0); // and its comma
    if (itemBytes + bytes > room) break;
    chosen.push(json);
    itemBytes += bytes;
  }
  if (keep === 'newest') chosen.reverse();
  const complete = chosen.length === items.length;
  const end = suffix(complete);
  const parts: Array<string | Buffer> = [prefix];
  for (let i = 0; i < chosen.length; i++) {
    if (i > 0) parts.push(',');
    parts.push(chosen[i]!);
  }
  parts.push(end);
  const length = prefixBytes + itemBytes + Buffer.byteLength(end);
  const frame = textFrameOf(parts, length);
  return { frame, payload: frame.subarray(frame.length - length), complete };
}
