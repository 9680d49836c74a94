/** An ISO timestamp as local wall-clock time with milliseconds (14:03:07.123), as the console and `tail` show it. */
export function localTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${clockTime(date.getTime())}.${pad(date.getMilliseconds(), 3)}`;
}

/** An instant as local wall-clock time to the second (14:03:07): when a retry is due. */
export function clockTime(epochMs: number): string {
  const date = new Date(epochMs);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}
