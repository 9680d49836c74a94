/**
 * A tolerant reader of IMAP lines as ImapFlow logs them (its logging compiler writes strings
 * JSON-quoted and literals as `"(* 50B literal *)"`), also fine for lines as sent on the wire. It
 * never throws: whatever it cannot read becomes an atom, and it stops after `maxTokens`.
 */

/** A token: an atom or a quoted string's value, or a parenthesised list. */
export type Token = string | Token[];

const LITERAL_PLACEHOLDER = /^\(\* (\d+)B literal \*\)$/;

/** The first space-separated word of a line and the rest: the tag and what follows it. */
export function splitWord(line: string): [word: string, rest: string] {
  const space = line.indexOf(' ');
  return space === -1 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
}

/** Reads the tokens of `text` (a command's arguments). */
export function readTokens(text: string, maxTokens = 256): Token[] {
  const reader = { text, i: 0, budget: maxTokens };
  return readList(reader, undefined);
}

interface Reader {
  text: string;
  i: number;
  budget: number;
}

function readList(r: Reader, close: string | undefined): Token[] {
  const out: Token[] = [];
  while (r.i < r.text.length && r.budget > 0) {
    const c = r.text[r.i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      r.i++;
    } else if (c === close) {
      r.i++;
      return out;
    } else if (c === '(') {
      r.i++;
      r.budget--;
      out.push(readList(r, ')'));
    } else if (c === '"') {
      r.budget--;
      out.push(readQuoted(r));
    } else {
      r.budget--;
      out.push(readAtom(r));
    }
  }
  return out;
}

/** A quoted string: IMAP and JSON escape `"` and `\` alike; JSON's other escapes are kept as read. */
function readQuoted(r: Reader): string {
  let value = '';
  let j = r.i + 1;
  while (j < r.text.length && r.text[j] !== '"') {
    if (r.text[j] === '\\' && j + 1 < r.text.length) j++;
    value += r.text[j];
    j++;
  }
  r.i = j + 1;
  return value;
}

/** An atom, with any `[...]` section in it read whole (`BODY.PEEK[HEADER.FIELDS (TO FROM)]<0.100>`). */
function readAtom(r: Reader): string {
  let j = r.i;
  let depth = 0;
  while (j < r.text.length) {
    const c = r.text[j]!;
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (depth === 0 && (c === ' ' || c === ')' || c === '(' || c === '\r' || c === '\n')) break;
    j++;
  }
  const atom = r.text.slice(r.i, j);
  r.i = j;
  return atom;
}

/** The size of a literal ImapFlow logged as a placeholder, or undefined. */
export function literalBytes(token: Token | undefined): number | undefined {
  if (typeof token !== 'string') return undefined;
  const match = LITERAL_PLACEHOLDER.exec(token);
  return match ? Number(match[1]) : undefined;
}

/** A token as text: lists flattened back to `(A B C)`. */
export function tokenText(token: Token): string {
  return typeof token === 'string' ? token : `(${token.map(tokenText).join(' ')})`;
}
