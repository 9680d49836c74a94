import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HTTP_ERRORS } from '../../src/errors.js';
import { ROOT } from '../helpers/process.js';

/**
 * The catalog lists what is sent, and only that: every HTTP code is answered by some code path, every
 * particular text of a code is used, and no code outside src/errors.ts writes an error text of its own.
 * Reachability over real HTTP is test/integration/error-catalog.test.ts.
 */

/** Server code: what answers requests. The SDK, CLI and publisher only read codes; errors.ts defines them. */
function serverSources(): Array<{ file: string; text: string }> {
  const dir = path.join(ROOT, 'src');
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((file) => file.split(path.sep).join('/'))
    .filter((file) => file.endsWith('.ts') && file !== 'errors.ts' && !/^(client|cli|publisher)\//.test(file))
    .map((file) => ({ file: `src/${file}`, text: fs.readFileSync(path.join(dir, file), 'utf8') }));
}

const sources = serverSources();

describe('the HTTP error catalog (src/errors.ts)', () => {
  it('has no code that no server code answers with', () => {
    const unanswered = Object.keys(HTTP_ERRORS).filter((code) => !sources.some(({ text }) => text.includes(`'${code}'`)));
    expect(unanswered).toEqual([]);
  });

  it('has no particular text that no server code sends', () => {
    const unused: string[] = [];
    for (const [code, entry] of Object.entries(HTTP_ERRORS)) {
      for (const key of Object.keys('texts' in entry ? entry.texts : {})) {
        if (!sources.some(({ text }) => text.includes(`HTTP_ERRORS.${code}.texts.${key}`))) unused.push(`${code}.${key}`);
      }
    }
    expect(unused).toEqual([]);
  });

  it('is the only place an HTTP error text is written', () => {
    // A literal where an error's message or an issue's text goes: a constructor's message argument, an
    // upgrade refusal's message, a JSON error body, an issue of an ownerOf callback.
    const literal = '\\s*[\'"`]';
    const patterns = [
      new RegExp(`new (HttpError|LivetailError|ValidationError|StoreWriteError)\\(\\s*'[A-Z_]+'\\s*,${literal}`),
      new RegExp(`refused: '[A-Z_]+', message:${literal}`),
      new RegExp(`return \\{ error:${literal}`),
      new RegExp(`\\{ invalid:${literal}`),
      new RegExp(`json\\(res, \\d+, \\{ error:${literal}`),
    ];
    const written = sources.flatMap(({ file, text }) =>
      text
        .split('\n')
        .map((line, i) => ({ where: `${file}:${i + 1}`, line: line.trim() }))
        .filter(({ line }) => patterns.some((pattern) => pattern.test(line))),
    );
    expect(written).toEqual([]);
  });
});
