/**
 * Removes secrets and message contents from log entries (`sanitizeEntry`, in LogService.append) and job
 * events (`sanitizeJobEvent`, in JobService.append) before anything is stored or sent, so that what the
 * store keeps, what GET answers and what sockets receive never hold them.
 *
 * In every text: an entry's `command`, `raw`, `response`, `error`, every string inside `parsed` and its
 * keys, every string of a job event and its keys (the mask is `****` unless said otherwise):
 * - the password of `LOGIN <user> <password>` as an atom, a quoted string or a literal (`{n}`, LITERAL+
 *   `{n+}`, literal8 `~{n}`; literal lengths count UTF-8 bytes), and anything after it on its line; a
 *   user argument that runs past its line (it swallowed the password) is masked whole;
 * - the initial response of `AUTHENTICATE <mechanism> <data>` (SASL-IR), and the client responses on the
 *   lines after an AUTHENTICATE (one base64 word per line; server challenges `+ …` stay); when the entry's
 *   command or raw line is an AUTHENTICATE, the leading client responses of `raw` and `response` too;
 * - SASL messages anywhere: a base64 token that decodes to a PLAIN (with an empty authzid, as clients send
 *   it), XOAUTH2 or OAUTHBEARER message; the password of a decoded PLAIN message (`authzid NUL authcid NUL
 *   password`); the token of `auth=Bearer <token>` (decoded XOAUTH2/OAUTHBEARER) and of any `Bearer <token>`;
 * - the value of `AUTH=<base64>` (a capability such as `AUTH=PLAIN` is a mechanism name and stays);
 * - the value of `key=value`, `key: value` and `"key": "value"` when the key is sensitive (see
 *   sensitive-keys.ts), and the password of `scheme://user:password@host`;
 * - message contents of `BODY[…]`, `BINARY[…]` and `RFC822`/`RFC822.TEXT`/`RFC822.HEADER` items (a
 *   literal, literal8 or quoted string) and the message literals of `APPEND`, replaced by
 *   `[MESSAGE CONTENT REDACTED]`; a literal's header keeps the size it announced.
 * In `parsed` and in job events, the whole value of every sensitive key (sensitive-keys.ts: password,
 * passwd, passphrase, pwd, secret, token, auth, apiKey, privateKey, credentials, cookie, sessionId, pass,
 * pin, … case-insensitively and across `_`/`-`), at any depth.
 * A job event's `userId` (its owner, from the session or the service token) is kept exactly; `jobId` and
 * `status` are sanitized as texts like any string but never masked by their key.
 *
 * Every secret found is also scrubbed wherever else it appears in the entry or event, keys and an entry's
 * `emailAccountId` included (a parser may have copied the password into `parsed.args`): secrets found by
 * IMAP or SASL syntax from 3 characters on, values of sensitive keys from MIN_KEYED_SECRET (8) on.
 *
 * Not recognized, by design or for want of a sign: a secret under a key that names nothing (it is caught
 * only when the same secret is found elsewhere in the entry); `pass`/`pin` glued to another word
 * (`userpass`); a base64 PLAIN message with an authzid outside an AUTHENTICATE exchange. Prose that looks
 * like a command (`login failed for bob`) is masked after its second word: a wrong mask costs words, a
 * missed one a password.
 */
import { CONTENT_REDACTED, type LineOptions, type LineResult, MASK, MIN_KEYED_SECRET, sanitizeLine } from './line-sanitizer.js';
import { isSensitiveKey } from './sensitive-keys.js';

export { CONTENT_REDACTED, MASK, sanitizeLine };

/** Shorter line secrets are still masked where they stand; scrubbing them elsewhere would mangle unrelated text. */
const MIN_SCRUBBED = 3;
const MAX_DEPTH = 1000; // bounded by validation long before; guards the recursion anyway
const AUTHENTICATE_COMMAND = /\bAUTHENTICATE\b/i;

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  // Own `__proto__` keys stay plain data, never prototypes. Every other key of a fresh object literal is
  // set by plain assignment (the same own, enumerable, writable data property: Object.prototype's only
  // accessor is __proto__), which V8 does several times faster than defineProperty.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Keys repeat from entry to entry: each key's sanitized form is remembered, up to a bound. */
const cleanKeys = new Map<string, LineResult>();
const MAX_REMEMBERED_KEYS = 4096;

function cleanKey(key: string, secrets: string[]): string {
  let clean = cleanKeys.get(key);
  if (!clean) {
    clean = sanitizeLine(key);
    if (cleanKeys.size >= MAX_REMEMBERED_KEYS) cleanKeys.clear();
    cleanKeys.set(key, clean);
  }
  for (const secret of clean.secrets) secrets.push(secret);
  return clean.text;
}

/** Keeps the strings of a value masked by its key, to scrub them elsewhere. */
function collectMasked(value: unknown, secrets: string[], depth: number): void {
  if (typeof value === 'string') {
    if (value.length >= MIN_KEYED_SECRET) secrets.push(value);
  } else if (value !== null && typeof value === 'object' && depth < MAX_DEPTH) {
    for (const child of Object.values(value)) collectMasked(child, secrets, depth + 1);
  }
}

/** A sanitized copy of a JSON value: sensitive keys masked, strings and keys sanitized as lines. */
function cleanValue(value: unknown, secrets: string[], depth: number): unknown {
  if (typeof value === 'string') {
    const line = sanitizeLine(value);
    for (const secret of line.secrets) secrets.push(secret);
    return line.text;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return MASK;
  if (Array.isArray(value)) return value.map((v) => cleanValue(v, secrets, depth + 1));
  return cleanObject(value as Record<string, unknown>, secrets, depth);
}

/**
 * The members of an object, sanitized: a sensitive key's value is masked whole. Keys in `unmasked` are
 * never masked by their name nor renamed (their values are still sanitized).
 */
function cleanObject(value: Record<string, unknown>, secrets: string[], depth: number, unmasked?: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (unmasked?.has(key)) {
      define(out, key, cleanValue(child, secrets, depth + 1));
    } else if (isSensitiveKey(key)) {
      collectMasked(child, secrets, depth + 1);
      define(out, cleanKey(key, secrets), MASK);
    } else {
      define(out, cleanKey(key, secrets), cleanValue(child, secrets, depth + 1));
    }
  }
  return out;
}

/** The secrets worth scrubbing, longest first (so a longer secret is replaced before a part of it). */
function scrubList(secrets: string[]): string[] {
  if (secrets.length === 0) return secrets;
  return [...new Set(secrets)].filter((s) => s.length >= MIN_SCRUBBED && s !== MASK).sort((a, b) => b.length - a.length);
}

function scrubString(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(MASK);
  return out;
}

/** A copy of a JSON value (already sanitized) with every occurrence of the secrets, in strings and keys, replaced. */
function scrub<T>(value: T, secrets: string[]): T {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return scrubString(value, secrets) as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets)) as T;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) define(out, scrubString(key, secrets), scrub(child, secrets));
  return out as T;
}

/** A sanitized copy of a JSON value: sensitive keys masked at any depth, strings and keys sanitized as lines. */
export function sanitizeParsed(value: unknown): unknown {
  const secrets: string[] = [];
  const clean = cleanValue(value, secrets, 0);
  return scrub(clean, scrubList(secrets));
}

export interface SanitizableData {
  raw?: string;
  parsed?: unknown;
  response?: string;
  duration?: number;
  error?: string | null;
}

/** Sanitizes a log entry's command and data; returns new objects, never mutates the input. */
export function sanitizeEntry<T extends { command: string; data: SanitizableData; emailAccountId?: string }>(entry: T): T {
  const secrets: string[] = [];
  const line = (text: string, options?: LineOptions) => {
    const result = sanitizeLine(text, options);
    for (const secret of result.secrets) secrets.push(secret);
    return result;
  };
  const { raw, response, error, parsed, duration } = entry.data;
  const command = line(entry.command);
  // An AUTHENTICATE entry's raw line and response may hold the client's SASL responses on lines of their own.
  const sasl = command.mechanism !== undefined || AUTHENTICATE_COMMAND.test(entry.command);
  const rawLine = raw === undefined ? undefined : line(raw, { sasl, mechanism: command.mechanism });
  const mechanism = command.mechanism ?? rawLine?.mechanism;
  const data: SanitizableData = {};
  if (rawLine !== undefined) data.raw = rawLine.text;
  if (parsed !== undefined) data.parsed = cleanValue(parsed, secrets, 0);
  if (response !== undefined) data.response = line(response, { sasl: sasl || mechanism !== undefined, mechanism }).text;
  if (duration !== undefined) data.duration = duration;
  if (error !== undefined) data.error = error === null ? null : line(error).text;
  const unique = scrubList(secrets);
  const clean = { ...entry, command: scrubString(command.text, unique), data: scrub(data, unique) };
  if (typeof entry.emailAccountId === 'string') clean.emailAccountId = scrubString(entry.emailAccountId, unique);
  return clean;
}

/** A job event's fields that identify it: never masked by their name. */
const JOB_IDENTITY = new Set(['jobId', 'status']);

/**
 * Sanitizes a job event with the same rules as `parsed`: sensitive keys masked, strings and keys
 * sanitized as lines, found secrets scrubbed; returns a new object, never mutates the input. `userId` is
 * kept exactly (it names the owner the event is stored and sent under); `jobId` and `status` are
 * sanitized as lines but never masked by their name.
 */
export function sanitizeJobEvent<T extends { userId: string; jobId: string; status: string }>(event: T): T {
  const secrets: string[] = [];
  const clean = scrub(cleanObject(event, secrets, 0, JOB_IDENTITY), scrubList(secrets));
  define(clean, 'userId', event.userId); // keeps its place among the keys
  return clean as T;
}
