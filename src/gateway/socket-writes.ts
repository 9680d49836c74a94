import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * The two things that make a broadcast cheap per socket (measured with `npm run bench`, see
 * bench/results/history.md): a message is framed once for every socket that gets it, and the frames a
 * burst of sends puts on one socket leave in a single write.
 */

/**
 * An RFC 6455 text frame around `payload`: FIN set, opcode 1, no mask (servers never mask, §5.1), the
 * length in 7, 16 or 64 bits (§5.2). Built once per message and written as is to every socket.
 */
export function textFrame(payload: Buffer): Buffer {
  const frame = allocateTextFrame(payload.length);
  payload.copy(frame, frame.length - payload.length);
  return frame;
}

/**
 * A text frame whose payload is `parts` one after the other (strings as UTF-8, buffers as they are),
 * `length` bytes in all, written straight into the frame: a large message (a join's backlog) exists once,
 * not as a string, then a buffer, then a frame. The payload is `frame.subarray(frame.length - length)`.
 */
export function textFrameOf(parts: readonly (string | Buffer)[], length: number): Buffer {
  const frame = allocateTextFrame(length);
  let offset = frame.length - length;
  for (const part of parts) offset += typeof part === 'string' ? frame.write(part, offset, 'utf8') : part.copy(frame, offset);
  if (offset !== frame.length) throw new Error(`textFrameOf: the parts hold ${offset - (frame.length - length)} bytes, not ${length}`);
  return frame;
}

/** A frame with its header written and room for `length` bytes of payload after it. */
function allocateTextFrame(length: number): Buffer {
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  return frame;
}

/**
 * The TCP socket under `ws` when prebuilt frames may be written to it directly, else undefined. That
 * needs no extension negotiated: with permessage-deflate every socket's frames differ, and ws queues
 * them while it compresses, so writing around it could reorder frames. Without an extension ws's sender
 * writes each frame straight to this socket (it queues only while compressing or reading a Blob, which
 * livetail never sends), so frames written here and frames ws writes (pong, close) keep their order.
 * `_socket` is ws's own field for it (engine.io reaches into ws the same way for its pre-encoded frames).
 */
export function rawSocketOf(ws: WebSocket): Socket | undefined {
  if (ws.extensions !== '') return undefined;
  return (ws as unknown as { _socket?: Socket })._socket;
}

/** A member of a burst: told when the synchronous run of sends it took part in has ended. */
export interface BurstMember {
  endBurst(): void;
}

/**
 * Groups the sends of one synchronous run (the messages one store commit fans out, a backlog) so each
 * socket can hold its writes until the run ends (one microtask later): the frames a commit has for one
 * socket then leave in a single writev, one system call and one wake-up of the reader instead of one per
 * message. Nothing waits for I/O meanwhile, so latency does not change. One per gateway.
 */
export class SendBursts {
  private members: BurstMember[] = [];

  /** Adds a member to the current run; its endBurst() is called when the run ends. */
  join(member: BurstMember): void {
    if (this.members.push(member) === 1) queueMicrotask(this.end);
  }

  private readonly end = (): void => {
    const members = this.members;
    this.members = [];
    for (const member of members) member.endBurst();
  };
}
