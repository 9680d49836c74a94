/**
 * Just enough IMAP syntax (RFC 9051) for the sanitizer to find arguments in logged protocol text: atoms,
 * quoted strings and literals (`{n}`, LITERAL+ `{n+}`, literal8 `~{n}`), whose length counts UTF-8
 * bytes, never characters, so nothing after a literal with non-ASCII content is misread.
 */

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const BRACE = 0x7b;
const TILDE = 0x7e;
const PLUS = 0x2b;

/** A literal header and its line break, at a given position (sticky). */
const LITERAL_HEADER = /~?\{(\d{1,10})\+?\}\r?\n/y;
/** A literal header at the end of a line (the text just before the line break). */
const LITERAL_HEADER_AT_END = /~?\{\d{1,10}\+?\}$/;
/** The longest header, `~{9999999999+}`. */
const LONGEST_HEADER = 14;

export function isBreak(code: number): boolean {
  return code === CR || code === LF;
}

export function isBlank(code: number): boolean {
  return code === SPACE || code === TAB;
}

/** Whether the character at `i` ends an atom: a blank, a line break or the end of the text. */
export function endsAtom(text: string, i: number): boolean {
  if (i >= text.length) return true;
  const code = text.charCodeAt(i);
  return isBlank(code) || isBreak(code);
}

export function skipBlanks(text: string, i: number): number {
  while (i < text.length && isBlank(text.charCodeAt(i))) i++;
  return i;
}

/** Index just past the UTF-8 bytes that start at `start`, and whether the text held all of them. */
function byteEnd(text: string, start: number, bytes: number): { end: number; complete: boolean } {
  let i = start;
  let counted = 0;
  while (i < text.length && counted < bytes) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      counted += 1;
      i += 1;
    } else if (code < 0x800) {
      counted += 2;
      i += 1;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      counted += 4; // a surrogate pair: one code point of four bytes
      i += 2;
    } else {
      counted += 3; // includes a lone surrogate, which UTF-8 encodes as U+FFFD
      i += 1;
    }
  }
  return { end: i, complete: counted >= bytes };
}

export interface Literal {
  /** Where the header (`{`, or `~` of literal8) starts. */
  start: number;
  /** Where the content starts. */
  contentStart: number;
  /** Just past the content (the end of the text when it is truncated). */
  end: number;
  /** Whether the text holds all the bytes the header announces. */
  complete: boolean;
}

/**
 * The literal whose header starts at `i`, if there is one. With `transcript`, a server continuation
 * line (`+ …`) right after a synchronizing literal's header is skipped: a transcript of the exchange
 * shows it between the header and the content.
 */
export function literalAt(text: string, i: number, transcript = false): Literal | undefined {
  const first = text.charCodeAt(i);
  if (first !== BRACE && first !== TILDE) return undefined;
  LITERAL_HEADER.lastIndex = i;
  const header = LITERAL_HEADER.exec(text);
  if (!header) return undefined;
  let contentStart = i + header[0].length;
  const synchronizing = !header[0].includes('+');
  if (transcript && synchronizing && text.charCodeAt(contentStart) === PLUS) {
    const lineFeed = text.indexOf('\n', contentStart);
    if (lineFeed >= 0) contentStart = lineFeed + 1;
  }
  const { end, complete } = byteEnd(text, contentStart, Number(header[1]));
  return { start: i, contentStart, end, complete };
}

export interface Argument {
  /** Just past the argument. */
  end: number;
  /** Its value: a quoted string unescaped, a literal's content, an atom as is. */
  value: string;
  /** False when a quoted string or a literal runs past its line or the text. */
  complete: boolean;
}

/** A quoted string starting at the `"` at `i`; it ends at its closing quote or, unterminated, at its line's end. */
export function readQuoted(text: string, i: number): Argument {
  let value = '';
  let j = i + 1;
  let chunk = j;
  while (j < text.length) {
    const code = text.charCodeAt(j);
    if (code === QUOTE) return { end: j + 1, value: value + text.slice(chunk, j), complete: true };
    if (isBreak(code)) break;
    if (code === BACKSLASH && j + 1 < text.length && !isBreak(text.charCodeAt(j + 1))) {
      value += text.slice(chunk, j);
      chunk = j + 1;
      j += 2;
      continue;
    }
    j++;
  }
  return { end: j, value: value + text.slice(chunk, j), complete: false };
}

/**
 * One argument starting at `i`: a quoted string, a literal or an atom (anything up to a blank or a line
 * break). Undefined at a blank, a line break or the end of the text.
 */
export function readArgument(text: string, i: number, transcript = false): Argument | undefined {
  if (endsAtom(text, i)) return undefined;
  if (text.charCodeAt(i) === QUOTE) return readQuoted(text, i);
  const literal = literalAt(text, i, transcript);
  if (literal) return { end: literal.end, value: text.slice(literal.contentStart, literal.end), complete: literal.complete };
  let j = i;
  while (!endsAtom(text, j)) j++;
  return { end: j, value: text.slice(i, j), complete: true };
}

/**
 * Where the logical line that contains `i` ends (the index of its CR or LF, or the end of the text): a
 * line that ends with a literal header goes on after the literal's content.
 */
export function lineEnd(text: string, i: number): number {
  let from = i;
  for (;;) {
    const lineFeed = text.indexOf('\n', from);
    if (lineFeed < 0) return text.length;
    const lineBreak = lineFeed > from && text.charCodeAt(lineFeed - 1) === CR ? lineFeed - 1 : lineFeed;
    const tail = LITERAL_HEADER_AT_END.exec(text.slice(Math.max(from, lineBreak - LONGEST_HEADER), lineBreak));
    if (!tail) return lineBreak;
    const literal = literalAt(text, lineBreak - tail[0].length);
    if (!literal || !literal.complete) return text.length;
    from = literal.end;
  }
}

/** The start of the line after the line break at `i`, or -1 when there is no line break at `i`. */
export function nextLine(text: string, i: number): number {
  const code = text.charCodeAt(i);
  if (code === LF) return i + 1;
  if (code === CR) return text.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
  return -1;
}
