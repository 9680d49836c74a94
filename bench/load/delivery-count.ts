/** What one client delivered, against what the store holds for its user. */
export interface DeliveryCount {
  /** Stored logs never delivered. */
  lost: number;
  /** Deliveries of a log already delivered (each extra one counts). */
  doubled: number;
  /** Logs delivered that the store does not hold: delivered without being durable. */
  notStored: number;
  /** Logs delivered before one that is stored ahead of them. */
  outOfOrder: number;
}

/**
 * Counts a client's deliveries (ids in the order it emitted them) against the ids the store holds for
 * its user, oldest first (`position`: id → index in that order): each stored log must be delivered once,
 * in the store's order, and nothing else.
 */
export function countDeliveries(delivered: readonly string[], position: ReadonlyMap<string, number>): DeliveryCount {
  const seen = new Set<string>();
  const count: DeliveryCount = { lost: 0, doubled: 0, notStored: 0, outOfOrder: 0 };
  let last = -1;
  for (const id of delivered) {
    if (seen.has(id)) {
      count.doubled++;
      continue;
    }
    seen.add(id);
    const at = position.get(id);
    if (at === undefined) {
      count.notStored++;
      continue;
    }
    if (at < last) count.outOfOrder++;
    else last = at;
  }
  for (const id of position.keys()) if (!seen.has(id)) count.lost++;
  return count;
}
