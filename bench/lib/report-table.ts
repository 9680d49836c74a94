import type { Measured, Series } from './results.js';
import { median } from './stats.js';
import { TARGETS as COMPARED } from './targets.js';
import type { WindowResult } from './windows.js';

/** A figure by target (or reference) name. */
export type Values = Partial<Record<string, number>>;

/** A row: one figure for each target, and the ratios. */
export interface Row {
  figure: string;
  values: Values;
  format(n: number): string;
  target?: Target;
  /** Where the cost comes from, shown when the target is missed (from profiles, see bench/results/history.md). */
  why?: string;
  /** Said after the verdict: what limits the measurement (e.g. fewer sockets than the target asks for). */
  caveat?: string;
  /** For a reference table: the name in `values` livetail is compared with. */
  reference?: string;
}

/** A target of the issue, checked against a row's values. */
export interface Target {
  text: string;
  check(values: Values): { met: boolean; detail: string } | undefined;
}

export const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–');
export const dec = (digits: number) => (n: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
export const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN);
export const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');
export const k = (n: number) => n.toLocaleString('en');

/** Median over the windows of each target of one figure. */
export function medians<T extends WindowResult>(series: Series<T> | undefined, pick: (w: Measured<T>) => number): Values {
  const values: Values = {};
  for (const [name, windows] of Object.entries(series ?? {})) values[name] = median(windows.map(pick));
  return values;
}

const missedBy = (fraction: number) => (Math.abs(fraction) * 100 < 0.5 ? '<1' : (Math.abs(fraction) * 100).toFixed(0));

/** A target on the ratio livetail / `other`: at least (`atLeast`) or at most `bound`. */
export function relative(other: string, bound: number, atLeast: boolean): Target {
  return {
    text: `${atLeast ? '≥' : '≤'} ${bound} × ${other}`,
    check(values) {
      const r = ratio(values.livetail, values[other]);
      if (!Number.isFinite(r)) return undefined;
      const met = atLeast ? r >= bound : r <= bound;
      return { met, detail: met ? `${r.toFixed(2)} × ${other}` : `${r.toFixed(2)} × ${other}, missed by ${missedBy(r / bound - 1)} %` };
    },
  };
}

export function both(a: Target, b: Target): Target {
  return {
    text: `${a.text} and ${b.text}`,
    check(values) {
      const ra = a.check(values);
      const rb = b.check(values);
      if (!ra || !rb) return ra ?? rb;
      return { met: ra.met && rb.met, detail: `${ra.detail}; ${rb.detail}` };
    },
  };
}

/** livetail's figure at least `bound`. */
export function atLeast(bound: number, unit: string): Target {
  return {
    text: `≥ ${bound.toLocaleString('en')} ${unit}`,
    check(values) {
      const v = values.livetail;
      if (v === undefined || !Number.isFinite(v)) return undefined;
      const met = v >= bound;
      return { met, detail: met ? `${int(v)}` : `${int(v)}, missed by ${missedBy(1 - v / bound)} %` };
    },
  };
}

/** livetail's figure at most `bound`. */
export function atMost(bound: number, unit: string): Target {
  return {
    text: `≤ ${bound.toLocaleString('en')} ${unit}`,
    check(values) {
      const v = values.livetail;
      if (v === undefined || !Number.isFinite(v)) return undefined;
      const met = v <= bound;
      return { met, detail: met ? `${v.toFixed(2)}` : `${v.toFixed(2)}, missed by ${missedBy(v / bound - 1)} %` };
    },
  };
}

/** livetail's count must be zero (a guarantee, not a cost). */
export function none(unit: string): Target {
  return {
    text: `0 ${unit}`,
    check(values) {
      const v = values.livetail;
      if (v === undefined || !Number.isFinite(v)) return undefined;
      return { met: v === 0, detail: `${int(v)}` };
    },
  };
}

function verdict(row: Row): string {
  if (!row.target) return '';
  const result = row.target.check(row.values);
  const text = !result ? 'not measured' : result.met ? `**met** (${result.detail})` : `**missed** (${result.detail})`;
  return row.caveat ? `${text}; ${row.caveat}` : text;
}

/** livetail, bare ws and Socket.IO side by side, with both ratios (and the targets). */
export function table(rows: Row[], withTargets: boolean): string[] {
  const head = ['figure', ...COMPARED, 'livetail / bare-ws', 'livetail / socket.io', ...(withTargets ? ['target', 'verdict'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = [
      row.figure,
      ...COMPARED.map((name) => (row.values[name] === undefined ? '' : row.format(row.values[name]!))),
      x(ratio(row.values.livetail, row.values['bare-ws'])),
      x(ratio(row.values.livetail, row.values['socket.io'])),
      ...(withTargets ? [row.target?.text ?? '', verdict(row)] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

/** livetail against the reference each row names (bare Express, raw better-sqlite3), or an absolute target. */
export function referenceTable(rows: Row[], withTargets: boolean): string[] {
  const head = ['figure', 'livetail', 'reference', 'reference\'s figure', 'livetail / reference', ...(withTargets ? ['target', 'verdict'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const other = row.reference ? row.values[row.reference] : undefined;
    const cells = [
      row.figure,
      row.values.livetail === undefined ? '' : row.format(row.values.livetail),
      row.reference ?? '',
      other === undefined ? '' : row.format(other),
      row.reference ? x(ratio(row.values.livetail, other)) : '',
      ...(withTargets ? [row.target?.text ?? '', verdict(row)] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

/** The rows whose target the run missed (or could not measure) and that say why. */
export function missedReasons(rows: Row[]): string[] {
  const missed = rows.filter((row) => row.why && row.target?.check(row.values)?.met === false);
  if (missed.length === 0) return [];
  return [
    'Why a target is missed (where the CPU goes, from `perf` and `node --cpu-prof` profiles; see bench/results/history.md):',
    '',
    ...missed.map((row) => `- **${row.figure}**: ${row.why}`),
    '',
  ];
}
