/**
 * Removes secrets and message contents from a log entry before it is stored or sent.
 *
 * What is redacted (the mask is `****` unless said otherwise):
 * - the password of `LOGIN <user> <password>` (atom, quoted string or literal);
 * - the initial response of `AUTHENTICATE <mechanism> <data>`;
 * - the value of `AUTH=<base64>` (a capability such as `AUTH=PLAIN` is a mechanism name, not a secret, and stays);
 * - message contents of `BODY[...]`, `BINARY[...]` and `RFC822*` items in FETCH responses, literal or quoted,
 *   replaced by `[MESSAGE CONTENT REDACTED]`;
 * - in `parsed`, the value of every key containing password, passwd, secret, token or auth, at any depth.
 * Every secret found in a line is also scrubbed wherever else it appears in the entry (a parser may have
 * copied the password into `parsed.args`), so none survives anywhere in the stored or sent entry.
 */

export const MASK = '****';
export const CONTENT_REDACTED = '[MESSAGE CONTENT REDACTED]';

const SENSITIVE_KEY = /password|passwd|secret|token|auth/i;
const MECHANISM_NAME = /^[A-Z0-9_-]{1,20}$/;

interface LineResult {
  text: string;
  secrets: string[];
}

/** Reads one IMAP argument starting at `i`: an atom, a quoted string or a literal. */
function readArgument(line: string, i: number): { end: number; value: string } | undefined {
  if (i >= line.length) return undefined;
  if (line[i] === '"') {
    let value = '';
    let j = i + 1;
    while (j < line.length && line[j] !== '"') {
      if (line[j] === '\\' && j + 1 < line.length) j++;
      value += line[j];
      j++;
    }
    return { end: Math.min(j + 1, line.length), value };
  }
  const literal = /^\{(\d+)\+?\}\r?\n/.exec(line.slice(i));
  if (literal) {
    const start = i + literal[0].length;
    const length = Number(literal[1]);
    return { end: Math.min(start + length, line.length), value: line.slice(start, start + length) };
  }
  let j = i;
  while (j < line.length && !/\s/.test(line[j]!)) j++;
  return { end: j, value: line.slice(i, j) };
}

function skipSpaces(line: string, i: number): number {
  while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
  return i;
}

/** Redacts the password of a LOGIN command and the data of an AUTHENTICATE command. */
function redactCommands(line: string, secrets: string[]): string {
  const login = /(^|\s)LOGIN\s+/gi;
  let out = line;
  for (let match = login.exec(out); match; match = login.exec(out)) {
    const user = readArgument(out, match.index + match[0].length);
    if (!user) break;
    const passwordStart = skipSpaces(out, user.end);
    const password = readArgument(out, passwordStart);
    if (!password || password.end === passwordStart) continue;
    const rawPassword = out.slice(passwordStart, password.end);
    secrets.push(password.value, rawPassword);
    out = out.slice(0, passwordStart) + MASK + out.slice(password.end);
    login.lastIndex = passwordStart + MASK.length;
  }
  const authenticate = /(^|\s)AUTHENTICATE\s+(\S+)[ \t]+/gi;
  for (let match = authenticate.exec(out); match; match = authenticate.exec(out)) {
    const dataStart = match.index + match[0].length;
    const data = readArgument(out, dataStart);
    if (!data || data.end === dataStart) continue;
    secrets.push(data.value, out.slice(dataStart, data.end));
    out = out.slice(0, dataStart) + MASK + out.slice(data.end);
    authenticate.lastIndex = dataStart + MASK.length;
  }
  return out.replace(/\bAUTH=([^\s)\]"]+)/gi, (whole, value: string) => {
    if (MECHANISM_NAME.test(value)) return whole;
    secrets.push(value);
    return `AUTH=${MASK}`;
  });
}

/** Redacts message contents: `BODY[...] {n}\r\n<n bytes>`, `BODY[...] "..."`, and the same for BINARY and RFC822. */
function redactMessageContents(line: string): string {
  const item = /\b(BODY|BINARY|RFC822(?:\.TEXT|\.HEADER)?)(?:\.PEEK)?(\[[^\]]*\])?(<\d+>)?[ \t]+/gi;
  let out = '';
  let from = 0;
  for (let match = item.exec(line); match; match = item.exec(line)) {
    // `BODY` alone is BODYSTRUCTURE's short form (a parenthesised list, not content): keep it.
    if (match[1]!.toUpperCase() === 'BODY' && !match[2]) continue;
    const valueStart = match.index + match[0].length;
    const literal = /^\{(\d+)\+?\}\r?\n/.exec(line.slice(valueStart));
    let valueEnd: number;
    if (literal) {
      valueEnd = endOfLiteral(line, valueStart + literal[0].length, Number(literal[1]));
      out += line.slice(from, valueStart) + literal[0] + CONTENT_REDACTED;
    } else if (line[valueStart] === '"') {
      const quoted = readArgument(line, valueStart)!;
      valueEnd = quoted.end;
      out += line.slice(from, valueStart) + `"${CONTENT_REDACTED}"`;
    } else {
      continue; // NIL or a truncated line: nothing to hide
    }
    from = valueEnd;
    item.lastIndex = valueEnd;
  }
  return out + line.slice(from);
}

/** Index just past a literal of `bytes` UTF-8 bytes that starts at `start` (literals count bytes, not characters). */
function endOfLiteral(line: string, start: number, bytes: number): number {
  let i = start;
  let counted = 0;
  while (i < line.length && counted < bytes) {
    const code = line.codePointAt(i)!;
    counted += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    i += code >= 0x10000 ? 2 : 1;
  }
  return i;
}

/** Sanitizes one protocol line (raw command, response or error text). */
export function sanitizeLine(line: string): LineResult {
  const secrets: string[] = [];
  const text = redactMessageContents(redactCommands(line, secrets));
  return { text, secrets: secrets.filter((s) => s.length > 0) };
}

/** Copies a JSON value, masking sensitive keys. Own `__proto__` keys stay plain data, never prototypes. */
export function sanitizeParsed(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 1000) return MASK; // bounded by validation long before; guards the recursion anyway
  if (Array.isArray(value)) return value.map((v) => sanitizeParsed(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const clean = SENSITIVE_KEY.test(key) ? MASK : sanitizeParsed(child, depth + 1);
    Object.defineProperty(out, key, { value: clean, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Replaces every occurrence of the secrets in the strings of a JSON value. */
function scrub<T>(value: T, secrets: string[]): T {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return scrubString(value, secrets) as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets)) as T;
  for (const key of Object.keys(value)) {
    (value as Record<string, unknown>)[key] = scrub((value as Record<string, unknown>)[key], secrets);
  }
  return value;
}

function scrubString(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (out === secret) return MASK;
    // Very short secrets would mangle unrelated text; they are still masked where they stand alone above.
    if (secret.length >= 3 && secret !== MASK) out = out.split(secret).join(MASK);
  }
  return out;
}

export interface SanitizableData {
  raw?: string;
  parsed?: unknown;
  response?: string;
  duration?: number;
  error?: string | null;
}

/** Sanitizes a log entry's command and data; returns new objects, never mutates the input. */
export function sanitizeEntry<T extends { command: string; data: SanitizableData }>(entry: T): T {
  const secrets: string[] = [];
  const line = (text: string | undefined | null) => {
    if (typeof text !== 'string') return text;
    const result = sanitizeLine(text);
    secrets.push(...result.secrets);
    return result.text;
  };
  const data: SanitizableData = {};
  const { raw, response, error, parsed, duration } = entry.data;
  if (raw !== undefined) data.raw = line(raw) as string;
  if (parsed !== undefined) data.parsed = sanitizeParsed(parsed);
  if (response !== undefined) data.response = line(response) as string;
  if (duration !== undefined) data.duration = duration;
  if (error !== undefined) data.error = line(error) as string | null;
  const command = line(entry.command) as string;
  const unique = [...new Set(secrets)].sort((a, b) => b.length - a.length);
  return { ...entry, command: scrubString(command, unique), data: scrub(data, unique) };
}
