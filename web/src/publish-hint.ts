import { h } from './dom.js';

/**
 * The empty table's hint: the one command that makes a log appear for this user, with a copy button.
 * The service token never reaches the page, so the command reads it from the shell's INGEST_TOKEN.
 */
export function publishHint(userId: string): HTMLElement {
  const origin = window.location.origin;
  const command = `npx livetail publish --url ${origin} --user ${userId} --account me@example.com --command FETCH --raw "A1 FETCH 1:* (FLAGS)" --duration 42`;
  const code = h('code', { class: 'command' }, command);
  const status = h('span', { class: 'muted', role: 'status' });
  const copy = h('button', {
    type: 'button',
    onclick: () => {
      void copyText(command, code).then((ok) => (status.textContent = ok ? 'Copied' : 'Selected: press Ctrl+C'));
    },
  }, 'Copy');
  return h(
    'div',
    { class: 'publish-hint' },
    h('p', {}, h('strong', {}, 'No logs yet.'), ' Logs your services send for this account appear here live. To try it, with INGEST_TOKEN exported as on the server, run:'),
    h('pre', {}, code),
    h('p', {}, copy, ' ', status),
    h('p', { class: 'muted' }, 'Your user id: ', h('code', { class: 'user-id' }, userId)),
  );
}

/** Copies to the clipboard where allowed (https or localhost); otherwise selects the text for Ctrl+C. */
async function copyText(text: string, el: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(el);
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    return false;
  }
}
