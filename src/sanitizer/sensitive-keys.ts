/**
 * Which object keys (in `parsed`, in job events, and `key=value` in text) name a secret.
 *
 * A key is compared in two forms: normalized (lowercase, every character that is not a letter or a digit
 * removed, so `api_key`, `API-KEY`, `apiKey` and `api.key` are all `apikey`) and split into words
 * (`userPIN` → user, pin; `db_pass` → db, pass).
 * - Normalized, it is sensitive when it contains password, passwd, passphrase, passcode, pwd, secret,
 *   token, auth, apikey, privatekey, credential, cookie or sessionid (so `accessToken`, `oauth`,
 *   `x-api-key`, `set-cookie`, `JSESSIONID`, `credentials` all are);
 * - as words, when one of them is `pass` or `pin`: short words that, matched inside other words, would
 *   hide `passive`, `bypass`, `compass`, `mapping`, `pinned` or `shipping`.
 * Deliberate exceptions, because they name no secret and occur in real data: `author`, `authors`,
 * `authored`, `authorship`, `authority`, `authorities` (but `authorization` and `authorize` stay
 * sensitive) and `tokenizer`, `tokenize`, `tokenized`, `tokenization`. Counters such as `tokens` or
 * `maxTokens` stay masked: a wrong mask costs a number, a missed one a credential.
 */

const SENSITIVE_PARTS = /password|passwd|passphrase|passcode|pwd|secret|token|auth|apikey|privatekey|credential|cookie|sessionid/;
const SENSITIVE_WORDS = new Set(['pass', 'pin']);
const BENIGN_PARTS = /author(?:ities|ity|ship|ed|s)?(?!i[sz])|tokeniz(?:ation|ers?|ed?)/g;
const NOT_LETTER_OR_DIGIT = /[^\p{L}\p{N}]+/gu;
const WORD_BOUNDARY = /[^\p{L}\p{N}]+|(?<=[\p{Ll}\p{N}])(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})/u;
const TRAILING_DIGITS = /\d+$/;

/** Keys repeat from entry to entry (one producer, one shape): the answer is remembered, up to a bound. */
const answers = new Map<string, boolean>();
const MAX_REMEMBERED = 4096;

export function isSensitiveKey(key: string): boolean {
  let answer = answers.get(key);
  if (answer === undefined) {
    answer = decide(key);
    if (answers.size >= MAX_REMEMBERED) answers.clear();
    answers.set(key, answer);
  }
  return answer;
}

function decide(key: string): boolean {
  const normalized = key.toLowerCase().replace(NOT_LETTER_OR_DIGIT, '').replace(BENIGN_PARTS, '');
  if (SENSITIVE_PARTS.test(normalized)) return true;
  return key.split(WORD_BOUNDARY).some((word) => SENSITIVE_WORDS.has(word.toLowerCase().replace(TRAILING_DIGITS, '')));
}
