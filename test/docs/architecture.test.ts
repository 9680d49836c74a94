import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.js';

const exists = (file: string) => fs.existsSync(path.join(ROOT, file));

/** Every repository path a Markdown text names: in backticks (`src/…`) or as a relative link, from `dir`. */
function namedPaths(text: string, dir: string): string[] {
  const quoted = [...text.matchAll(/`((?:src|test|docs|web|bench|examples)\/[\w./-]+\.\w+)`/g)].map((m) => m[1]!);
  const linked = [...text.matchAll(/\]\((?!https?:|#)([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => path.posix.normalize(path.posix.join(dir, m[1]!)));
  return [...new Set([...quoted, ...linked])];
}

describe('docs/architecture.md', () => {
  const text = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const architectureSection = readme.slice(readme.indexOf('## Architecture'), readme.indexOf('\n## ', readme.indexOf('## Architecture') + 1));

  it('names only files that exist (and README’s architecture section too)', () => {
    const named = [...namedPaths(text, 'docs'), ...namedPaths(architectureSection, '.')];
    expect(named.length).toBeGreaterThan(30);
    expect(named.filter((file) => !exists(file))).toEqual([]);
  });

  it('names a file for every step of the three flows', () => {
    for (const heading of ['## The flow of a log', '## The flow of an upgrade', '## The flow of a session end']) {
      const start = text.indexOf(heading);
      expect(start, heading).toBeGreaterThan(-1);
      const end = text.indexOf('\n## ', start + 1);
      const section = text.slice(start, end === -1 ? undefined : end);
      const steps = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| step'));
      expect(steps.length, heading).toBeGreaterThan(3);
      for (const step of steps) expect(step, `${heading}: a step without its file`).toMatch(/`src\/[\w./-]+\.ts`/);
    }
  });
});
