import type { StateChange } from '../../src/client/index.js';
import { clockTime } from '../../src/util/local-time.js';
import { h, setText } from './dom.js';

/** What the user can do about the connection's state, offered as a button in the banner. */
export type ConnectionAction = 'sign-in-again' | 'retry';

/** The words for a state: a short label for the pill, and when the user must know or do something, a banner. */
export interface ConnectionWords {
  label: string;
  /** The reason in words and what to do; absent while nothing needs the user. */
  advice?: string;
  action?: ConnectionAction;
  /** The server's own message, as a tooltip on the pill. */
  detail?: string;
}

const ACTION_LABELS: Record<ConnectionAction, string> = { 'sign-in-again': 'Sign in again', retry: 'Retry' };

/**
 * Shows the socket's state: a pill (connected, reconnecting with a countdown to the next attempt,
 * signed out…) and, when the connection is refused for a reason the user can act on, a banner that
 * says why and what to do, with a button for it. The countdown ticks on its own timer only while
 * reconnecting.
 */
export class ConnectionIndicator {
  readonly element: HTMLElement;
  readonly banner: HTMLElement;
  private readonly label: HTMLSpanElement;
  private readonly advice: HTMLSpanElement;
  private readonly button: HTMLButtonElement;
  private current: StateChange = { state: 'connecting' };
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly onAction: (action: ConnectionAction) => void,
    private readonly pageOrigin: string = window.location.origin,
    private readonly now: () => number = Date.now,
  ) {
    this.label = h('span', { class: 'label' });
    this.element = h('div', { class: 'connection', role: 'status', 'aria-live': 'polite' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), this.label);
    this.advice = h('span', { class: 'advice' });
    this.button = h('button', { type: 'button', class: 'primary', onclick: () => this.act() });
    this.banner = h('div', { class: 'banner', role: 'alert', hidden: true }, this.advice, this.button);
    this.show();
  }

  set(state: StateChange): void {
    this.current = state;
    clearInterval(this.ticker);
    this.ticker = undefined;
    if (state.state === 'reconnecting' && state.retryAt !== undefined) this.ticker = setInterval(() => this.show(), 250);
    this.show();
  }

  dispose(): void {
    clearInterval(this.ticker);
  }

  private act(): void {
    const { action } = describeConnection(this.current, this.now(), this.pageOrigin);
    if (action) this.onAction(action);
  }

  private show(): void {
    const words = describeConnection(this.current, this.now(), this.pageOrigin);
    this.element.dataset.state = this.current.state;
    this.banner.dataset.state = this.current.state;
    setText(this.label, words.label);
    if (words.detail) this.element.title = words.detail;
    else this.element.removeAttribute('title');
    this.banner.hidden = words.advice === undefined;
    setText(this.advice, words.advice ?? '');
    this.button.hidden = words.action === undefined;
    setText(this.button, words.action ? ACTION_LABELS[words.action] : '');
  }
}

/** The words for a connection state (`now` for countdowns; `pageOrigin` names the origin to trust). */
export function describeConnection({ state, retryAt, attempt, reason }: StateChange, now: number, pageOrigin: string): ConnectionWords {
  const detail = reason ? `${reason.message} (HTTP ${reason.status}${reason.code ? `, ${reason.code}` : ''})` : undefined;
  const withDetail = (words: ConnectionWords): ConnectionWords => (detail ? { ...words, detail } : words);
  switch (state) {
    case 'open':
      return { label: 'connected' };
    case 'connecting':
      return { label: 'connecting…' };
    case 'reconnecting': {
      const tries = attempt && attempt > 1 ? ` (attempt ${attempt})` : '';
      const seconds = retryAt === undefined ? 0 : Math.ceil((retryAt - now) / 1000);
      return withDetail({ label: seconds > 0 ? `reconnecting in ${seconds} s${tries}` : `reconnecting…${tries}` });
    }
    case 'rate-limited':
      return withDetail({
        label: 'rate limited',
        advice: `Too many connection attempts: retrying at ${retryAt === undefined ? 'a later time' : clockTime(retryAt)}.`,
      });
    case 'unauthenticated':
      return withDetail({
        label: 'signed out',
        advice:
          'Your session ended: sign in again (you signed out in another window, or the session was revoked or expired). ' +
          'The logs below stay until you leave.',
        action: 'sign-in-again',
      });
    case 'forbidden':
      return withDetail({
        label: 'origin not allowed',
        advice: `This page's origin (${pageOrigin}) is not allowed by the server: add it to TRUSTED_ORIGINS, then retry.`,
        action: 'retry',
      });
    case 'closed':
      return { label: 'disconnected' };
  }
}
