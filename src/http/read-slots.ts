import type http from 'node:http';
import type { SendOptions } from './send-json.js';

/** How the GET routes answer: the per-user read slots, and how a streamed answer treats a client that stops reading. */
export interface ReadRouteOptions {
  slots: ReadSlots;
  send: SendOptions;
}

/**
 * A bound on the reads (GET /api/logs, GET /api/jobs) one user has in progress on this node. Each read
 * holds up to about MAX_BUFFERED_BYTES while its client takes the answer, so the bound caps what one
 * user's cookie can make the node hold; the next read is answered 429 TOO_MANY_READS.
 */
export class ReadSlots {
  private readonly inUse = new Map<string, number>();

  constructor(private readonly maxPerUser: number) {}

  /** Takes one of the user's slots until `res` closes (answered, cut or abandoned); false if none is free. */
  take(userId: string, res: http.ServerResponse): boolean {
    const used = this.inUse.get(userId) ?? 0;
    if (used >= this.maxPerUser) return false;
    this.inUse.set(userId, used + 1);
    res.once('close', () => {
      const left = this.inUse.get(userId)! - 1;
      if (left === 0) this.inUse.delete(userId);
      else this.inUse.set(userId, left);
    });
    return true;
  }
}
