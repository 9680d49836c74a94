// The app's page: signs up or in with the app's own better-auth, then shows the user's logs live with
// livetail/client (the browser sends the session cookie with the upgrade itself).
import { createClient } from 'livetail/client';

const $ = (selector) => document.querySelector(selector);
let client;

async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.message ?? answer.error ?? `${path} answered ${res.status}`);
  return answer;
}

function say(text) {
  $('#message').textContent = text;
}

async function showSession() {
  const session = await (await fetch('/api/auth/get-session')).json();
  const signedIn = Boolean(session?.user);
  $('#who').textContent = signedIn ? session.user.email : 'signed out';
  $('#account').hidden = signedIn;
  $('#mailbox').hidden = !signedIn;
  if (signedIn) connect();
}

function connect() {
  client?.close();
  $('#logs').replaceChildren();
  client = createClient({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, channels: ['logs'] });
  client.on('state', ({ state, reason }) => {
    $('#state').textContent = reason ? `${state}: ${reason.message}` : state;
    $('#state').className = `state ${state}`;
  });
  client.on('reset', () => $('#logs').replaceChildren());
  client.on('logs-cleared', () => $('#logs').replaceChildren());
  client.on('log', (log) => {
    const item = document.createElement('li');
    item.textContent = `${new Date(log.timestamp).toLocaleTimeString()} ${log.command} ${log.data.raw ?? ''} → ${log.data.response?.split('\r\n').at(-1) ?? ''} (${log.data.duration ?? '?'} ms)`;
    $('#logs').prepend(item);
  });
}

$('#account').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const action = event.submitter?.value ?? 'sign-in';
  const email = form.get('email');
  try {
    if (action === 'sign-up') await post('/api/auth/sign-up/email', { email, password: form.get('password'), name: form.get('name') || email });
    else await post('/api/auth/sign-in/email', { email, password: form.get('password') });
    say('');
    await showSession();
  } catch (error) {
    say(error.message);
  }
});

$('#select').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await post('/api/mailbox/select', { mailbox: new FormData(event.target).get('mailbox') });
  } catch (error) {
    say(error.message);
  }
});

$('#sign-out').addEventListener('click', async () => {
  await post('/api/auth/sign-out');
  // livetail closes this session's socket with 4401 as the sign-out happens: the client's state becomes
  // `unauthenticated` and it does not reconnect (until reconnect(), or a new client after signing in).
  await showSession();
});

await showSession();
