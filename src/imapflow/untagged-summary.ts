/** Bounds of the untagged data kept per command. */
export interface SummaryBounds {
  /** Untagged lines kept verbatim; the rest are only counted. */
  maxLines: number;
  /** Characters kept of each line. */
  maxLineChars: number;
}

/**
 * The untagged responses a command received (`* 3 FETCH …`, `* 1 EXISTS`, `* SEARCH 1 2`), kept
 * bounded: the first `maxLines` lines (each cut at `maxLineChars`) and a count per response type of
 * everything, so a FETCH of 100,000 messages costs a counter, not 100,000 strings.
 */
export class UntaggedSummary {
  private readonly lines: string[] = [];
  private readonly counts = new Map<string, number>();
  private total = 0;

  constructor(private readonly bounds: SummaryBounds) {}

  add(line: string): void {
    this.total++;
    const type = responseType(line);
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    if (this.lines.length < this.bounds.maxLines) this.lines.push(cut(line, this.bounds.maxLineChars));
  }

  /** How many of a type arrived (FETCH, EXISTS, BYE…). */
  count(type: string): number {
    return this.counts.get(type) ?? 0;
  }

  /** The kept lines, then one line counting what was left out: `… and 998 more untagged: FETCH 998`. */
  render(): string[] {
    const out = [...this.lines];
    const left = this.total - this.lines.length;
    if (left > 0) {
      const kept = new Map<string, number>();
      for (const line of this.lines) kept.set(responseType(line), (kept.get(responseType(line)) ?? 0) + 1);
      const rest = [...this.counts]
        .map(([type, n]) => [type, n - (kept.get(type) ?? 0)] as const)
        .filter(([, n]) => n > 0)
        .map(([type, n]) => `${type} ${n.toLocaleString('en')}`);
      out.push(`… and ${left.toLocaleString('en')} more untagged: ${rest.join(', ')}`);
    }
    return out;
  }
}

/** `* 3 FETCH (…)` → FETCH, `* OK [UIDNEXT 2] …` → OK, `* SEARCH 1 2` → SEARCH. */
export function responseType(line: string): string {
  const match = /^\*\s+(?:\d+\s+)?([A-Za-z][A-Za-z0-9.-]*)/.exec(line);
  return match ? match[1]!.toUpperCase() : 'OTHER';
}

export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${(text.length - max).toLocaleString('en')} more characters)`;
}
