import type { JobEventData, LogEntry } from '../protocol/log-entry.js';
import type { SessionEnd } from '../sessions/session-end.js';

/**
 * What travels between the node that committed an event and the nodes holding the user's sockets.
 * A discriminated union keyed by `type`, as socket.io's cluster messages are. A stream message belongs
 * to one user; `seq` orders logs and clears in that user's stream (see LogStore).
 */
export type StreamMessage =
  | { type: 'log'; userId: string; seq: number; log: LogEntry; /** ms since epoch when ingested, for the fan-out latency metric */ at: number }
  | { type: 'logs-cleared'; userId: string; seq: number; timestamp: string }
  | { type: 'job-event'; userId: string; data: JobEventData };

/**
 * A message for every node, whatever users it follows: a session (or a user's sessions) ended, so every
 * node drops what it cached and closes the sockets opened with it.
 */
export type ControlMessage = { type: 'session-ended' } & SessionEnd;

export type BusMessage = StreamMessage | ControlMessage;

export interface BusListener {
  /** Called for each message of a subscribed user, and for every control message. */
  onMessage(message: BusMessage): void;
  /**
   * Called when messages may have been lost (the bus reconnected after a fault). The hub answers by
   * catching every local user up from the store, the source of truth; Sessions by dropping its cached
   * checks (an end may have been among the lost).
   */
  onResync(): void;
}

/**
 * Carries published messages to every node subscribed to the message's user.
 *
 * Contract (tested by test/contract/bus.contract.ts against every implementation):
 * - `publish` delivers a stream message to the listener of every node subscribed to the user when the
 *   message arrives, including the publishing node itself: there is one delivery path. A control message
 *   reaches every open bus, subscribed or not.
 * - Messages published by one node for one user arrive in publish order. Between nodes no order is
 *   promised: the hub reorders logs by `seq` and fills gaps from the store.
 * - Delivery is at most once: a fault may drop messages; the bus reports it through `onResync` when it
 *   can tell, and the hub detects gaps in `seq` when it cannot.
 * - `subscribe(userId)` resolves once messages published afterwards will be delivered; subscriptions are
 *   counted by the hub, which calls subscribe on a user's first local socket and unsubscribe after the last.
 * - A failed publish is reported (logged and counted by the implementation), never thrown into the caller.
 */
export interface Bus {
  /** The implementation's name for log lines (`local`, `redis`). Nothing branches on it: ask the seam's methods. */
  readonly name: string;
  /** Sets the single listener: the core's, which hands stream messages to the hub and control messages to Sessions. */
  attach(listener: BusListener): void;
  publish(message: BusMessage): void;
  /**
   * Sends a control message to every node, this one included, and resolves once the bus has taken it for
   * all of them (Redis acknowledged the publish); rejects when it could not (the caller reports it).
   */
  broadcast(message: ControlMessage): Promise<void>;
  /**
   * Resolves once every control message whose `broadcast` resolved before this call has reached this
   * node's listener. A node answering from its session cache waits for it first: a sign-out the app
   * already confirmed on another node is then always heard here before the cached answer is used.
   * Rejects when the bus cannot tell (it is disconnected).
   */
  barrier(): Promise<void>;
  subscribe(userId: string): Promise<void>;
  unsubscribe(userId: string): Promise<void>;
  /**
   * Resolves when the bus answers; readiness asks it (named `bus` in /readyz). Left out by a bus that has
   * nothing that can stop answering (the in-process one), as SessionResolver.ping is.
   */
  ping?(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
