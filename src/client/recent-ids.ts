/**
 * The ids of the most recently delivered logs, bounded: what a duplicate is checked against. The server
 * never resends a log older than the resume point, so a window this size is plenty.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    // A Set iterates in insertion order: the first value is the oldest.
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
  }

  clear(): void {
    this.ids.clear();
  }
}
