// The dashboard: holds what the control plane sent, keeps two streams open
// (the dashboard's samples and the events), and shows one view at a time by
// the URL's hash: #/ services, #/services/{namespace}/{name}, #/events.
import { AuthRequired, getJson, postJson, readStream, setToken, token } from './api.js';
import { fill, h } from './format.js';
import { EventsView, ServiceView, ServicesView } from './views.js';

const HISTORY_LIMIT = 3600;
const EVENTS_LIMIT = 1000;

class App {
  constructor() {
    this.state = { services: new Map(), history: new Map(), events: [], now: Date.now(), lastEventId: 0 };
    this.root = document.getElementById('view');
    this.status = document.getElementById('live');
    this.view = undefined;
    this.streams = undefined;
    document.getElementById('signout').addEventListener('click', () => {
      setToken('');
      this.stop();
      this.askToken('Signed out.');
    });
    window.addEventListener('hashchange', () => this.route());
  }

  async start() {
    try {
      const { now, items } = await getJson('/api/v1/dashboard/services');
      this.state.now = now;
      this.setServices(items);
    } catch (err) {
      if (err instanceof AuthRequired) return this.askToken(token() ? 'That token was refused; paste the current one.' : undefined);
      return this.showError(err);
    }
    document.body.dataset.auth = token() ? 'token' : 'open';
    this.route();
    this.openStreams();
  }

  stop() {
    this.streams?.abort();
    this.streams = undefined;
  }

  setServices(items) {
    this.state.services = new Map(items.map((s) => [`${s.namespace}/${s.name}`, s]));
  }

  route() {
    if (document.body.dataset.auth === 'required') return; // the token form stays until a token is taken
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${parts[0] ?? ''}`);
    if (parts[0] === 'services' && parts.length === 3) this.view = new ServiceView(this, parts[1], parts[2]);
    else if (parts[0] === 'events') this.view = new EventsView(this);
    else this.view = new ServicesView(this);
    this.view.mount(this.root);
  }

  async loadHistory(key) {
    const [namespace, name] = key.split('/');
    // Kept from now on: samples streamed while the history is on its way land here, not nowhere.
    if (!this.state.history.has(key)) this.state.history.set(key, []);
    const body = await getJson(`/api/v1/dashboard/services/${encodeURIComponent(name)}/history?namespace=${encodeURIComponent(namespace)}`);
    const known = this.state.history.get(key);
    // Points the stream delivered while the history was on its way come after it.
    const last = body.points[body.points.length - 1]?.t ?? -Infinity;
    this.state.history.set(key, [...body.points, ...known.filter((p) => p.t > last)]);
  }

  rolloutCommand(namespace, name, command) {
    return postJson(`/api/v1/services/${encodeURIComponent(name)}/rollout/${command}?namespace=${encodeURIComponent(namespace)}`);
  }

  openStreams() {
    this.stop();
    const controller = new AbortController();
    this.streams = controller;
    this.keepReading('/api/v1/dashboard/stream', (m) => this.onSample(JSON.parse(m.data)), controller.signal);
    this.keepReading(() => `/api/v1/events?since=${this.state.lastEventId}`, (m) => this.onEvent(JSON.parse(m.data)), controller.signal);
  }

  /** Reads a stream, and reads it again after a pause whenever it ends or fails, until aborted. */
  async keepReading(path, onMessage, signal) {
    while (!signal.aborted) {
      let why = 'the stream ended';
      try {
        this.setLive(true);
        await readStream(typeof path === 'function' ? path() : path, onMessage, signal);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AuthRequired) {
          this.stop();
          return this.askToken('The control plane asked for the token again.');
        }
        // A refusal says why (too many streams open, say): shown on hover.
        why = err.message;
      }
      if (signal.aborted) return;
      this.setLive(false, why);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  setLive(live, why = '') {
    this.status.textContent = live ? 'live' : 'reconnecting…';
    this.status.className = live ? 'live on' : 'live off';
    this.status.title = live ? '' : why;
  }

  onSample(sample) {
    this.state.now = sample.t;
    this.setServices(sample.items);
    for (const [key, point] of Object.entries(sample.points)) {
      const series = this.state.history.get(key);
      if (series === undefined) continue; // only the histories a page asked for are kept
      series.push(point);
      if (series.length > HISTORY_LIMIT) series.splice(0, series.length - HISTORY_LIMIT);
    }
    document.body.dataset.sampled = String(sample.t);
    this.view?.update();
  }

  onEvent(event) {
    if (event.id <= this.state.lastEventId) return;
    this.state.lastEventId = event.id;
    this.state.events.push(event);
    if (this.state.events.length > EVENTS_LIMIT) this.state.events.splice(0, this.state.events.length - EVENTS_LIMIT);
    if (!(this.view instanceof ServicesView)) this.view?.update();
  }

  askToken(message) {
    document.body.dataset.auth = 'required';
    const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, placeholder: 'token' });
    const form = h(
      'form',
      { class: 'login' },
      h('h1', {}, 'Token'),
      h('p', {}, 'karb up: its admin token, kept in .karb/admin-token (cat .karb/admin-token), or a viewer\'s token (karb tokens create --role viewer --name NAME). karb controller on Kubernetes: a bearer token of an account the cluster lets get InferenceServices (kubectl create token NAME -n NAMESPACE). It stays in this tab only (session storage).'),
      message ? h('p', { class: 'error' }, message) : null,
      h('label', { for: 'token' }, 'Token '),
      input,
      h('button', { type: 'submit' }, 'Sign in'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      this.start();
    });
    fill(this.root, form);
    input.focus();
  }

  showError(err) {
    fill(this.root, h('div', { class: 'error-box' }, h('h1', {}, 'The control plane answered with an error'), h('p', {}, err.message)));
  }
}

new App().start();
