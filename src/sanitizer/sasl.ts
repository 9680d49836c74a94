/**
 * SASL client messages, recognized by their shape whether base64 (as sent after AUTHENTICATE) or
 * decoded (as a logger may print them):
 * - PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`;
 * - XOAUTH2: `user=<user> ^A auth=Bearer <token> ^A ^A`; OAUTHBEARER (RFC 7628): `n,a=<user>, ^A host=… ^A
 *   auth=Bearer <token> ^A ^A`.
 * The secrets inside are what the sanitizer scrubs from the rest of an entry once it has masked the
 * message itself.
 */

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** `auth=<scheme> <token>` inside a decoded XOAUTH2 / OAUTHBEARER message. */
const AUTH_TOKEN = /auth=[A-Za-z][\w.-]*[ \t]+([^\x01\s]+)/gi;
const CONTROL = /[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** The password of a decoded PLAIN message (exactly two NULs, no other control characters), if it is one. */
function plainPassword(decoded: string): string | undefined {
  const first = decoded.indexOf('\0');
  if (first < 0) return undefined;
  const second = decoded.indexOf('\0', first + 1);
  if (second < 0 || second === decoded.length - 1 || decoded.indexOf('\0', second + 1) >= 0) return undefined;
  if (CONTROL.test(decoded)) return undefined;
  return decoded.slice(second + 1);
}

/** The bearer tokens of a decoded XOAUTH2 / OAUTHBEARER message. */
function bearerTokens(decoded: string): string[] {
  if (!decoded.includes('\x01')) return [];
  return [...decoded.matchAll(AUTH_TOKEN)].map((m) => m[1]!);
}

/** The secrets inside a decoded SASL message: a PLAIN password, XOAUTH2/OAUTHBEARER tokens; empty if none. */
export function decodedSaslSecrets(decoded: string): string[] {
  const password = plainPassword(decoded);
  return password === undefined ? bearerTokens(decoded) : [password];
}

function decodeBase64(text: string): string | undefined {
  if (text.length % 4 === 1 || !BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64').toString('utf8');
}

/**
 * The secrets inside a base64 token when it is a PLAIN, XOAUTH2 or OAUTHBEARER message, else undefined:
 * for tokens found anywhere in text, with no AUTHENTICATE around them.
 */
export function base64SaslSecrets(token: string): string[] | undefined {
  const decoded = decodeBase64(token);
  if (decoded === undefined) return undefined;
  const secrets = decodedSaslSecrets(decoded);
  return secrets.length > 0 ? secrets : undefined;
}

/**
 * The secrets inside one client response of an AUTHENTICATE exchange (`index` 0 is the first, the
 * initial response if there is one): the shapes above, and for the LOGIN mechanism its second response,
 * which is the password itself. When the mechanism is not known (the continuation was logged without
 * its command), every response after the first counts as LOGIN's would.
 */
export function responseSecrets(response: string, mechanism: string | undefined, index: number): string[] {
  const decoded = decodeBase64(response);
  if (decoded === undefined) return [];
  const secrets = decodedSaslSecrets(decoded);
  const passwordLike = (mechanism === undefined || mechanism === 'LOGIN') && index >= 1;
  if (secrets.length === 0 && passwordLike && decoded !== '' && !CONTROL.test(decoded)) secrets.push(decoded);
  return secrets;
}
