import type { Counter, Histogram } from 'prom-client';

/** The current value of a counter series (0 when the series was never incremented). */
export async function counterValue<L extends string>(counter: Counter<L>, labels: Partial<Record<L, string>> = {}): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** How many observations a histogram has recorded. */
export async function histogramCount(histogram: Histogram): Promise<number> {
  const { values } = await histogram.get();
  return values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0);
}
