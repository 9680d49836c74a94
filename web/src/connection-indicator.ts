import type { StateChange } from '../../src/client/index.js';
import { h, setText } from './dom.js';

/**
 * Shows the socket's state: connected, reconnecting with a countdown to the next attempt, or signed
 * out. The countdown ticks on its own timer only while reconnecting.
 */
export class ConnectionIndicator {
  readonly element: HTMLElement;
  private readonly label: HTMLSpanElement;
  private current: StateChange = { state: 'connecting' };
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly now: () => number = Date.now) {
    this.label = h('span', { class: 'label' });
    this.element = h('div', { class: 'connection', role: 'status', 'aria-live': 'polite' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), this.label);
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

  private show(): void {
    this.element.dataset.state = this.current.state;
    setText(this.label, describe(this.current, this.now()));
  }
}

function describe({ state, retryAt, attempt }: StateChange, now: number): string {
  switch (state) {
    case 'open':
      return 'connected';
    case 'connecting':
      return 'connecting…';
    case 'reconnecting': {
      if (retryAt === undefined) return 'reconnecting…';
      const seconds = Math.ceil((retryAt - now) / 1000);
      const tries = attempt && attempt > 1 ? ` (attempt ${attempt})` : '';
      return seconds > 0 ? `reconnecting in ${seconds} s${tries}` : `reconnecting…${tries}`;
    }
    case 'unauthenticated':
      return 'signed out';
    case 'closed':
      return 'disconnected';
  }
}
