/** The rows of every Markdown table in `text`, as arrays of trimmed cells (separator rows left out). */
export function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[-| ]+\|$/.test(line))
    .map((line) => line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
}

/** The text of the section under `heading` (a `## ` or `### ` line), up to the next heading of its level or higher. */
export function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^#{2,3} /.test(line) && line.replace(/^#+ /, '') === heading);
  if (start < 0) throw new Error(`no section "${heading}"`);
  const level = lines[start]!.indexOf(' ');
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && line.indexOf(' ') <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The member names of `export interface <name> { ... }` in a TypeScript source (one level deep). */
export function interfaceMembers(source: string, name: string): string[] {
  const start = source.indexOf(`export interface ${name} `);
  if (start < 0) throw new Error(`no interface ${name}`);
  const body = source.slice(source.indexOf('{', start) + 1);
  const members: string[] = [];
  let depth = 0;
  for (const line of body.split('\n')) {
    if (depth === 0 && line.trim() === '}') break;
    const match = depth === 0 ? /^\s{2}(?:readonly\s+)?(\w+)\??[:(]/.exec(line) : null;
    if (match) members.push(match[1]!);
    depth += (line.match(/[{(]/g)?.length ?? 0) - (line.match(/[})]/g)?.length ?? 0);
  }
  return members;
}
