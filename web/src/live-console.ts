import { createClient } from '../../src/client/index.js';
import { WS_PATH } from '../../src/protocol/constants.js';
import type { LogEntry } from '../../src/protocol/log-entry.js';
import { authClient, type ConsoleUser } from './auth-client.js';
import { ConnectionIndicator } from './connection-indicator.js';
import { h, setText } from './dom.js';
import { FrameLoop } from './frame-loop.js';
import { JobsModel } from './jobs-model.js';
import { JobsPanel } from './jobs-panel.js';
import type { LogFilter } from './log-filter.js';
import { LogModel, type ViewChange } from './log-model.js';
import { LogTable } from './log-table.js';
import { publishHint } from './publish-hint.js';
import { applyTheme, loadTheme, nextTheme, themeLabel } from './theme.js';
import { Toolbar } from './toolbar.js';

/** The most logs one frame applies; the rest wait for the next frame. */
const MAX_LOGS_PER_FRAME = 2000;

export interface LiveConsoleOptions {
  user: ConsoleUser;
  /** The user signed out here, or wants to sign in again after the session ended elsewhere. */
  onLeave(reason: 'signed-out' | 'sign-in-again'): void;
}

/** A running console: call `dispose()` before removing it. */
export interface LiveConsole {
  readonly element: HTMLElement;
  dispose(): void;
}

/**
 * The console page: the SDK client feeds logs and job events into the models as they arrive, and one
 * animation frame applies everything that arrived since the last one (one DOM update per frame,
 * however many logs per second).
 */
export function startLiveConsole(options: LiveConsoleOptions): LiveConsole {
  const logs = new LogModel();
  const jobs = new JobsModel();
  let incoming: LogEntry[] = [];
  let clearPending = false;
  let filterPending: LogFilter | undefined;
  let pauseToggle = false;
  let jobsDirty = true;

  const frame = new FrameLoop(flush);
  const indicator = new ConnectionIndicator((action) => {
    if (action === 'retry') client.reconnect();
    else options.onLeave('sign-in-again');
  });
  const table = new LogTable(logs, () => frame.request(), publishHint(options.user.id));
  const jobsPanel = new JobsPanel(jobs);
  const toolbar = new Toolbar({
    onFilter: (filter) => {
      filterPending = filter;
      frame.request();
    },
    onPauseToggle: () => togglePause(),
    onClear: () => client.clearLogs(),
  });

  const client = createClient({ url: socketUrl() });
  client.on('log', (log) => {
    incoming.push(log);
    // A tab without animation frames (hidden) must not hoard more than the table can keep.
    if (incoming.length > logs.capacity * 2) incoming.splice(0, incoming.length - logs.capacity);
    frame.request();
  });
  const dropView = () => {
    incoming = [];
    clearPending = true;
    frame.request();
  };
  client.on('reset', dropView);
  client.on('logs-cleared', dropView);
  client.on('initial-jobs', (list) => {
    jobs.replace(list);
    jobsDirty = true;
    frame.request();
  });
  client.on('job-event', (event) => {
    jobs.apply(event);
    jobsDirty = true;
    frame.request();
  });
  client.on('state', (state) => indicator.set(state));
  // Connection failures are the indicator's to show; what the server answered goes in the notice line.
  client.on('error', (error) => {
    if (error.code === 'PROTOCOL_ERROR') showNotice(error.message);
  });

  function togglePause(): void {
    pauseToggle = !pauseToggle;
    frame.request();
  }

  // Running jobs' durations tick once a second.
  const ticker = setInterval(() => {
    if (!jobs.anyRunning) return;
    jobsDirty = true;
    frame.request();
  }, 1000);

  function flush(): void {
    const changes: ViewChange[] = [];
    if (clearPending) changes.push(logs.clear());
    clearPending = false;
    if (filterPending) {
      changes.push(logs.setFilter(filterPending));
      table.setNeedle(filterPending.text);
      filterPending = undefined;
    }
    if (pauseToggle) {
      if (logs.isPaused) changes.push(logs.resume());
      else logs.pause();
      pauseToggle = false;
    }
    if (incoming.length > 0) {
      // A big backlog (10,000 logs on connect) is applied over a few frames, so none of them is long.
      changes.push(logs.add(incoming.splice(0, MAX_LOGS_PER_FRAME)));
      if (incoming.length > 0) frame.request();
    }
    table.render(merge(changes));
    toolbar.update({
      shown: logs.view.length,
      total: logs.total,
      paused: logs.isPaused,
      held: logs.heldCount,
      accounts: logs.accounts,
      commands: logs.commands,
    });
    if (jobsDirty) jobsPanel.render();
    jobsDirty = false;
  }

  const notice = h('p', { class: 'notice-line', role: 'alert' });
  let noticeTimer: ReturnType<typeof setTimeout> | undefined;
  function showNotice(message: string): void {
    setText(notice, message);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => setText(notice, ''), 8000);
  }

  let theme = loadTheme();
  const themeButton = h('button', {
    type: 'button',
    class: 'theme',
    onclick: () => {
      theme = nextTheme(theme);
      applyTheme(theme);
      setText(themeButton, themeLabel(theme));
    },
  }, themeLabel(theme));

  const signOut = h('button', {
    type: 'button',
    class: 'sign-out',
    onclick: async () => {
      signOut.disabled = true;
      // Close first: the server ends this session's sockets (4401), which must not flash "signed out".
      await client.close();
      await authClient.signOut().catch(() => undefined);
      options.onLeave('signed-out');
    },
  }, 'Sign out');

  const element = h(
    'div',
    { class: 'console' },
    h(
      'header',
      { class: 'topbar' },
      h('span', { class: 'brand' }, 'livetail'),
      indicator.element,
      h('span', { class: 'grow' }),
      h('span', { class: 'user', title: `user id ${options.user.id}`, 'data-user-id': options.user.id }, options.user.email),
      themeButton,
      signOut,
    ),
    indicator.banner,
    toolbar.element,
    notice,
    h('main', { class: 'panes' }, table.element, jobsPanel.element),
  );

  const onKey = (event: KeyboardEvent) => {
    const target = event.target as HTMLElement;
    if (event.ctrlKey || event.metaKey || event.altKey || target.closest('input, select, textarea, dialog')) return;
    if (event.key === '/') {
      event.preventDefault();
      toolbar.focusSearch();
    } else if (event.key === 'p') {
      togglePause();
    }
  };
  document.addEventListener('keydown', onKey);
  frame.request();

  return {
    element,
    dispose: () => {
      client.close();
      frame.dispose();
      indicator.dispose();
      clearInterval(ticker);
      clearTimeout(noticeTimer);
      document.removeEventListener('keydown', onKey);
    },
  };
}

/** The socket lives on this page's own origin, so the browser sends the session cookie with it. */
function socketUrl(): string {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}${WS_PATH}`;
}

function merge(changes: ViewChange[]): ViewChange {
  return {
    appended: changes.reduce((sum, c) => sum + c.appended, 0),
    evicted: changes.flatMap((c) => c.evicted),
    rebuilt: changes.some((c) => c.rebuilt),
  };
}
