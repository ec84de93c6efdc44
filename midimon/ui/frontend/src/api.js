// The panel's calls to its server. The session is an HttpOnly cookie, but cookies do not keep
// to a port (a browser sends them to every server on 127.0.0.1), so every API request also
// carries the session's key in a header. The key arrives once, in the login redirect's URL
// fragment (never sent to a server), and stays in this tab's sessionStorage.
const STORE = 'midimon-panel-key';
let csrf = takeKey();

function takeKey() {
  const found = /^#session=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (found) {
    sessionStorage.setItem(STORE, found[1]);
    history.replaceState(null, '', `${location.pathname}#/plugins`);
  }
  return sessionStorage.getItem(STORE) || '';
}

export class ApiError extends Error {}

async function answer(response) {
  const type = response.headers.get('Content-Type') || '';
  const body = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) {
    const message = typeof body === 'string' ? body.trim() : body.error;
    throw new ApiError(message || `${response.status} ${response.statusText}`);
  }
  return body;
}

export async function startSession() {
  if (!csrf) {
    throw new ApiError('This tab has no session: open the URL `midimon ui --url` prints.');
  }
  return get('/api/session');
}

export async function get(path) {
  return answer(await fetch(path, { headers: { 'X-CSRF-Token': csrf } }));
}

export async function post(path, body = {}) {
  return answer(
    await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body),
    }),
  );
}

// A POST whose refusals the page reads itself (a 409's diff, a 422's errors): {status, body}.
export async function postAnswer(path, body = {}) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: JSON.stringify(body),
  });
  const type = response.headers.get('Content-Type') || '';
  const parsed = type.includes('json') ? await response.json() : { error: (await response.text()).trim() };
  return { status: response.status, body: parsed };
}

export async function upload(path, file, options = {}) {
  const form = new FormData();
  form.append('file', file, file.name);
  form.append('options', JSON.stringify(options));
  return answer(
    await fetch(path, { method: 'POST', headers: { 'X-CSRF-Token': csrf }, body: form }),
  );
}

export function listen(onEvent, onState, path = '/api/events') {
  const source = new EventSource(`${path}?key=${encodeURIComponent(csrf)}`);
  source.onmessage = (message) => onEvent(JSON.parse(message.data));
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  return source;
}
