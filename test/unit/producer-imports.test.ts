import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.js';

/** Every module a source file imports at runtime or for types, followed through the files it reaches inside src/. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/g)) {
      const spec = match[1]!;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
      else seen.add(spec);
    }
  };
  visit(path.join(ROOT, entry));
  return seen;
}

const rel = (p: string) => (path.isAbsolute(p) ? path.relative(ROOT, p) : p);

describe('the producer entry points', () => {
  // They run inside the adopter's app: no store, bus, auth or HTTP server may come along with them.
  it.each(['src/publisher/index.ts', 'src/imapflow/index.ts'])('%s reaches only its own files, the protocol, the SDK helpers and the sanitizer', (entry) => {
    const own = path.dirname(entry);
    const allowed = (m: string) =>
      m.startsWith(`${own}/`) ||
      m.startsWith('src/protocol/') ||
      m === 'src/client/backoff.ts' ||
      m === 'src/client/emitter.ts' ||
      m.startsWith('src/sanitizer/') ||
      m === 'src/publisher/index.ts' ||
      m.startsWith('node:') ||
      m === 'zod'; // type-only (LogEntryInput), erased from the build
    const modules = [...reachable(entry)].map(rel);
    expect(modules.filter((m) => !allowed(m))).toEqual([]);
  });
});
