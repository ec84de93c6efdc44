// Shared page state: plugins, grant requests, capability table, statistics history, and the
// recent calls; fed by the API at start and by server-sent events afterwards.
import { get } from './api.js';

export const HISTORY = 300; // seconds of statistics the chart shows

export const panel = $state({
  session: null,
  connected: false,
  plugins: [],
  pluginsError: '',
  requests: [],
  capabilities: {},
  stats: null,
  history: [],
  calls: [],
  snoozed: {},
  deviceEvents: 0, // device events seen: the Device page reads the ports again on each
});

export function requestKey(r) {
  return `${r.plugin}/${r.capability}`;
}

export function capability(name) {
  return panel.capabilities[name] || { name, display: name, risk: 'high', description: '' };
}

export async function refreshPlugins() {
  try {
    if (panel.plugins.length === 0) {
      // the rows first (painted at once), then the details: each PLUGIN_INFO checks a signature
      const rows = await get('/api/plugins?brief=1');
      if (panel.plugins.length === 0) panel.plugins = rows;
    }
    panel.plugins = await get('/api/plugins');
    panel.pluginsError = '';
  } catch (error) {
    panel.pluginsError = error.message;
  }
}

let refreshing = null;

// The plugin list again, unless a refresh is already on its way (that one will do).
function refreshPluginsSoon() {
  if (!refreshing) refreshing = refreshPlugins().finally(() => (refreshing = null));
}

// Grant request events seen so far: a list read before the latest of them must not replace
// what the event brought (the dialog would vanish), so it is read again instead.
let requestEvents = 0;
// Each read of the list takes a ticket; an answer older than one already applied is dropped
// (two reads overlap when the page loads and the daemon connects at once).
let requestTickets = 0;
let appliedTicket = 0;
let callSeq = 0;

export async function refreshRequests() {
  for (let tries = 0; tries < 5; tries++) {
    const seen = requestEvents;
    const ticket = ++requestTickets;
    let rows = [];
    try {
      rows = await get('/api/requests?all=1');
    } catch {
      rows = null;
    }
    if (seen !== requestEvents) continue; // an event came meanwhile: this answer may be older
    if (ticket < appliedTicket) return; // a later read already answered
    if (rows !== null) {
      panel.requests = rows;
      appliedTicket = ticket;
    }
    return;
  }
}

export async function refreshStats() {
  try {
    const answer = await get('/api/stats');
    panel.stats = answer.now;
    panel.history = answer.history.slice(-HISTORY);
  } catch {
    panel.stats = null;
  }
}

export function onEvent(event) {
  switch (event.type) {
    case 'daemon':
      panel.connected = event.connected;
      if (event.connected) {
        refreshPlugins();
        refreshRequests();
      }
      break;
    case 'stats':
      panel.stats = event;
      panel.history = [...panel.history.slice(-(HISTORY - 1)), event];
      // a plugin loaded by a press (or stopped) since the list was read: read it again, so
      // its card says loaded, with its worker, within a second
      if (panel.plugins.some((p) => event.plugins?.[p.name] && event.plugins[p.name].loaded !== p.loaded)) {
        refreshPluginsSoon();
      }
      break;
    case 'grant_request': {
      requestEvents += 1;
      const others = panel.requests.filter((r) => requestKey(r) !== requestKey(event.request || event));
      panel.requests = [...others, event.request || event];
      break;
    }
    case 'grant_request_cleared':
      requestEvents += 1;
      refreshRequests();
      refreshPlugins();
      break;
    case 'action':
      panel.calls = [
        // seq keys the row: several events of one burst can share a clamped timestamp
        { ...event, received: performance.timeOrigin + performance.now(), seq: ++callSeq },
        ...panel.calls,
      ].slice(0, 50);
      break;
    case 'device':
      panel.deviceEvents += 1;
      break;
    case 'reload':
    case 'plugin_check':
      refreshPlugins();
      break;
  }
}
