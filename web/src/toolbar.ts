import { LOG_LEVELS, type LogLevel } from '../../src/protocol/constants.js';
import { h, setText } from './dom.js';
import { plural } from './format.js';
import type { LogFilter } from './log-filter.js';

export interface ToolbarActions {
  onFilter(filter: LogFilter): void;
  onPauseToggle(): void;
  /** Called after the user confirmed. */
  onClear(): void;
}

/** What the toolbar shows besides the filters, refreshed each frame. */
export interface ToolbarStatus {
  shown: number;
  total: number;
  paused: boolean;
  held: number;
  accounts: ReadonlySet<string>;
  commands: ReadonlySet<string>;
}

const TEXT_DEBOUNCE_MS = 120;

/** Filters (level, account, command, free text), pause/resume with the held count, and clear. */
export class Toolbar {
  readonly element: HTMLElement;
  private readonly level: HTMLSelectElement;
  private readonly account: HTMLSelectElement;
  private readonly command: HTMLSelectElement;
  private readonly text: HTMLInputElement;
  private readonly pause: HTMLButtonElement;
  private readonly held: HTMLSpanElement;
  private readonly counts: HTMLSpanElement;
  private readonly confirm: HTMLDialogElement;
  private textTimer: ReturnType<typeof setTimeout> | undefined;
  /** The account and command sets last shown and their sizes then: the model grows a set, or replaces it on a clear. */
  private shownFacets: Array<{ values?: ReadonlySet<string>; size: number }> = [{ size: 0 }, { size: 0 }];

  constructor(private readonly actions: ToolbarActions) {
    this.level = h(
      'select',
      { name: 'level', 'aria-label': 'Minimum level', onchange: () => this.emit() },
      ...LOG_LEVELS.map((level, i) => h('option', { value: level }, i === 0 ? 'all levels' : `${level} and above`)),
    );
    this.account = h('select', { name: 'account', 'aria-label': 'Email account', onchange: () => this.emit() });
    this.command = h('select', { name: 'command', 'aria-label': 'Command', onchange: () => this.emit() });
    this.text = h('input', {
      type: 'search',
      name: 'text',
      placeholder: 'Search  ( / )',
      'aria-label': 'Search logs',
      oninput: () => {
        clearTimeout(this.textTimer);
        this.textTimer = setTimeout(() => this.emit(), TEXT_DEBOUNCE_MS);
      },
      onkeydown: (event: Event) => {
        if ((event as KeyboardEvent).key === 'Enter') {
          clearTimeout(this.textTimer);
          this.emit();
        }
      },
    });
    this.pause = h('button', { type: 'button', class: 'pause', 'aria-pressed': 'false', 'aria-keyshortcuts': 'p', onclick: () => actions.onPauseToggle() }, 'Pause');
    this.held = h('span', { class: 'held', role: 'status', 'aria-live': 'polite' });
    this.counts = h('span', { class: 'counts', 'aria-live': 'off' });

    const yes = h('button', { type: 'submit', value: 'clear', class: 'danger' }, 'Clear logs');
    const no = h('button', { type: 'submit', value: 'cancel', autofocus: true }, 'Cancel');
    this.confirm = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'confirm-title' }, 'Clear all logs?'),
        h('p', {}, 'This deletes your stored logs on the server and empties every console you have open. It cannot be undone.'),
        h('div', { class: 'actions' }, no, yes),
      ),
    );
    this.confirm.addEventListener('close', () => {
      if (this.confirm.returnValue === 'clear') actions.onClear();
    });
    const clear = h('button', { type: 'button', class: 'clear', onclick: () => this.askClear() }, 'Clear…');

    this.setFacet(this.account, 'all accounts', new Set());
    this.setFacet(this.command, 'all commands', new Set());
    this.element = h(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Log filters and actions' },
      h('div', { class: 'filters' }, this.level, this.account, this.command, this.text),
      h('div', { class: 'actions' }, this.counts, this.held, this.pause, clear),
      this.confirm,
    );
  }

  focusSearch(): void {
    this.text.focus();
    this.text.select();
  }

  /** Refreshes counts, the pause state and the account/command choices (only when they changed). */
  update(status: ToolbarStatus): void {
    setText(this.counts, status.shown === status.total ? plural(status.total, 'log') : `${status.shown.toLocaleString('en')} of ${plural(status.total, 'log')}`);
    setText(this.pause, status.paused ? 'Resume' : 'Pause');
    this.pause.setAttribute('aria-pressed', String(status.paused));
    this.pause.classList.toggle('on', status.paused);
    setText(this.held, status.paused ? `paused · ${plural(status.held, 'new log')} buffered` : '');
    this.refreshFacet(0, this.account, 'all accounts', status.accounts);
    this.refreshFacet(1, this.command, 'all commands', status.commands);
  }

  private askClear(): void {
    this.confirm.returnValue = '';
    this.confirm.showModal();
  }

  private emit(): void {
    this.actions.onFilter({
      minLevel: this.level.value as LogLevel,
      account: this.account.value,
      command: this.command.value,
      text: this.text.value.trim(),
    });
  }

  private refreshFacet(index: number, select: HTMLSelectElement, allLabel: string, values: ReadonlySet<string>): void {
    const shown = this.shownFacets[index]!;
    if (shown.values === values && shown.size === values.size) return;
    this.shownFacets[index] = { values, size: values.size };
    this.setFacet(select, allLabel, values);
  }

  /** Rebuilds a select's options, keeping the current choice even if its value is gone (after a clear). */
  private setFacet(select: HTMLSelectElement, allLabel: string, values: ReadonlySet<string>): void {
    const chosen = select.value;
    const sorted = [...values].sort((a, b) => a.localeCompare(b));
    if (chosen && !values.has(chosen)) sorted.unshift(chosen);
    select.replaceChildren(h('option', { value: '' }, allLabel), ...sorted.map((value) => h('option', { value }, value)));
    select.value = chosen;
  }
}
