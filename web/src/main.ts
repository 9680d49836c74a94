import { currentUser, type ConsoleUser } from './auth-client.js';
import { authView } from './auth-view.js';
import { replaceChildren } from './dom.js';
import { type LiveConsole, startLiveConsole } from './live-console.js';
import { applyTheme, loadTheme } from './theme.js';

/**
 * The console's entry point: signed in → the live console, otherwise the sign-in card. Switching
 * between them never reloads the page.
 */
const root = document.getElementById('app')!;
let running: LiveConsole | undefined;

function showConsole(user: ConsoleUser): void {
  running?.dispose();
  running = startLiveConsole({
    user,
    onLeave: (reason) => showSignIn(reason === 'signed-out' ? 'You are signed out.' : 'Your session ended: sign in again.'),
  });
  replaceChildren(root, running.element);
}

function showSignIn(notice?: string): void {
  running?.dispose();
  running = undefined;
  replaceChildren(root, authView({ notice, onSignedIn: showConsole }));
}

applyTheme(loadTheme());
currentUser().then(
  (user) => (user ? showConsole(user) : showSignIn()),
  () => showSignIn('Cannot reach the server: showing the sign-in form.'),
);
