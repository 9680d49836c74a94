import { authClient, authErrorMessage, type ConsoleUser, toConsoleUser } from './auth-client.js';
import { h, setText } from './dom.js';

type Mode = 'sign-in' | 'sign-up';

export interface AuthViewOptions {
  /** Shown above the form, e.g. why the user is here again ("You were signed out"). */
  notice?: string;
  onSignedIn(user: ConsoleUser): void;
}

/**
 * The sign-in / create-account card. Both go through better-auth's client, which sets the session
 * cookie; the console then starts without a page reload.
 */
export function authView(options: AuthViewOptions): HTMLElement {
  let mode: Mode = 'sign-in';

  const title = h('h1', { id: 'auth-title' });
  const nameInput = h('input', { name: 'name', autocomplete: 'name', placeholder: 'optional' });
  const nameField = field('Name', nameInput);
  const emailInput = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true });
  const passwordInput = h('input', { name: 'password', type: 'password', minlength: 8, required: true });
  const error = h('p', { class: 'form-error', role: 'alert', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'primary' });
  const switchButton = h('button', { type: 'button', class: 'link', onclick: () => setMode(mode === 'sign-in' ? 'sign-up' : 'sign-in') });

  const form = h(
    'form',
    { class: 'auth-form', 'aria-labelledby': 'auth-title', novalidate: true },
    field('Email', emailInput),
    field('Password', passwordInput),
    nameField,
    error,
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void send();
  });

  function setMode(next: Mode): void {
    mode = next;
    setText(title, mode === 'sign-in' ? 'Sign in to livetail' : 'Create your livetail account');
    setText(submit, mode === 'sign-in' ? 'Sign in' : 'Create account');
    setText(switchButton, mode === 'sign-in' ? 'No account yet? Create one' : 'Have an account? Sign in');
    passwordInput.autocomplete = mode === 'sign-in' ? 'current-password' : 'new-password';
    nameField.hidden = mode === 'sign-in';
    setText(error, '');
  }

  async function send(): Promise<void> {
    const email = emailInput.value.trim();
    const password = passwordInput.value;
    if (!email || !emailInput.checkValidity()) return showError('Enter your email address', emailInput);
    if (password.length < 8) return showError('The password needs at least 8 characters', passwordInput);
    submit.disabled = true;
    setText(error, '');
    try {
      const result =
        mode === 'sign-in'
          ? await authClient.signIn.email({ email, password })
          : await authClient.signUp.email({ email, password, name: nameInput.value.trim() || email.split('@')[0]! });
      if (result.error || !result.data?.user) return showError(authErrorMessage(result.error));
      options.onSignedIn(toConsoleUser(result.data.user));
    } catch (failure) {
      showError(`Cannot reach the server: ${failure instanceof Error ? failure.message : String(failure)}`);
    } finally {
      submit.disabled = false;
    }
  }

  function showError(message: string, focus?: HTMLInputElement): void {
    setText(error, message);
    focus?.focus();
  }

  setMode(mode);
  const card = h(
    'main',
    { class: 'auth-card' },
    h('p', { class: 'brand' }, 'livetail'),
    title,
    options.notice ? h('p', { class: 'notice', role: 'status' }, options.notice) : null,
    form,
    switchButton,
  );
  queueMicrotask(() => emailInput.focus());
  return card;
}

function field(label: string, input: HTMLInputElement): HTMLLabelElement {
  return h('label', { class: 'field' }, h('span', {}, label), input);
}
