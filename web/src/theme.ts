/** The colour theme: follow the system, or force light or dark. Remembered in localStorage. */
export type ThemeChoice = 'system' | 'light' | 'dark';

const STORAGE_KEY = 'livetail-theme';
const ORDER: ThemeChoice[] = ['system', 'light', 'dark'];

export function loadTheme(): ThemeChoice {
  const saved = safeStorage()?.getItem(STORAGE_KEY);
  return saved === 'light' || saved === 'dark' ? saved : 'system';
}

/**
 * Applies a theme by setting `data-theme` on <html>; the stylesheet's colours use CSS `light-dark()`
 * with `color-scheme`, so 'system' simply follows `prefers-color-scheme`.
 */
export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === 'system') delete root.dataset.theme;
  else root.dataset.theme = choice;
  safeStorage()?.setItem(STORAGE_KEY, choice);
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return ORDER[(ORDER.indexOf(choice) + 1) % ORDER.length]!;
}

export function themeLabel(choice: ThemeChoice): string {
  return `Theme: ${choice}`;
}

/** Storage can throw (privacy modes, sandboxed frames); the theme is a convenience, never an error. */
function safeStorage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}
