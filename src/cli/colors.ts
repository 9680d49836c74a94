/** ANSI styling that turns itself off when output is not a terminal, NO_COLOR is set, or --no-color. */
export interface Colors {
  enabled: boolean;
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  blue(text: string): string;
  green(text: string): string;
  gray(text: string): string;
  cyan(text: string): string;
}

/**
 * Colours on when forced (--color, FORCE_COLOR), off when refused (--no-color, NO_COLOR), else on
 * only for a TTY: piping `livetail tail` into a file never writes escape codes.
 */
export function shouldColor(flag: boolean | undefined, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (flag !== undefined) return flag;
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

export function colors(enabled: boolean): Colors {
  const wrap = (open: number, close: number) => (text: string) => (enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text);
  return {
    enabled,
    dim: wrap(2, 22),
    bold: wrap(1, 22),
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    blue: wrap(34, 39),
    green: wrap(32, 39),
    gray: wrap(90, 39),
    cyan: wrap(36, 39),
  };
}
