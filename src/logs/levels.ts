import { LOG_LEVELS, type LogLevel } from '../protocol/constants.js';

const RANK: Record<LogLevel, number> = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i])) as Record<LogLevel, number>;

/** True when `level` is at or above `threshold` (debug < info < warn < error). */
export function passesLevel(level: LogLevel, threshold: LogLevel): boolean {
  return RANK[level] >= RANK[threshold];
}
