// The three views: the services table, one service's page, and the events.
// Each view builds its frame once (mount) and refreshes only what changes
// (update) on every sample, so buttons and inputs stay put under the pointer.
import { lineChart } from './charts.js';
import { burn, clock, duration, fill, h, ms, pct, rate, revisionColor } from './format.js';

const SLO_CLASS = { Met: 'ok', Breaching: 'bad', NoData: 'none' };

function sloBadge(status) {
  return h('span', { class: `badge ${SLO_CLASS[status.state] ?? 'none'}`, title: status.message, 'data-slo-state': status.state }, status.state === 'NoData' ? 'no data' : status.state);
}

function split(summary) {
  const live = summary.revisions.filter((r) => r.traffic > 0 || r.desired > 0 || r.ready > 0);
  if (live.length === 0) return '–';
  return live.map((r) => h('span', { class: 'split' }, h('i', { class: 'dot', 'data-color': revisionColor(r.name) }), `${r.name} ${r.traffic}%`));
}

/** A rollup's mark stands for every change in its minute (history.ts): say how many. */
function changes(scale) {
  return scale.changes > 1 ? ` (${scale.changes} changes in the minute)` : '';
}

function budgetCell(sli) {
  const left = sli.budgetLeft;
  const cls = left === undefined ? '' : left < 0 ? 'bad' : left < 0.25 ? 'warn' : 'ok';
  return h('td', { class: `num ${cls}` }, left === undefined ? '–' : pct(left, 2));
}

/** Colour swatches as CSS classes are fixed: set each dot's colour after it is in the page (CSSOM, allowed by the CSP). */
export function paintDots(root) {
  for (const dot of root.querySelectorAll('[data-color]')) dot.style.backgroundColor = dot.dataset.color;
}

export class ServicesView {
  constructor(app) {
    this.app = app;
  }

  mount(root) {
    this.body = h('tbody');
    this.note = h('p', { class: 'note' });
    fill(
      root,
      h('h1', {}, 'Services'),
      h(
        'table',
        { class: 'services' },
        h(
          'thead',
          {},
          h('tr', {}, ...['Service', 'SLO', 'p95 / target', 'Error rate / max', 'Latency budget left', 'Error budget left', 'Burn 5 m (lat · err)', 'Burn 1 h (lat · err)', 'Requests', 'Replicas ready/desired', 'Traffic split', 'Policy'].map((t) => h('th', {}, t))),
        ),
        this.body,
      ),
      this.note,
    );
    this.update();
  }

  update() {
    const items = [...this.app.state.services.values()];
    if (items.length === 0) {
      fill(this.body, h('tr', {}, h('td', { colspan: 12, class: 'empty' }, 'No services yet: karb apply -f examples/fraud-detector.yaml')));
    } else {
      fill(
        this.body,
        items.map((s) => {
          const st = s.sloStatus;
          return h(
            'tr',
            { 'data-service': `${s.namespace}/${s.name}` },
            h('td', {}, h('a', { href: `#/services/${encodeURIComponent(s.namespace)}/${encodeURIComponent(s.name)}` }, s.name), h('span', { class: 'ns' }, s.namespace)),
            h('td', {}, sloBadge(st)),
            h('td', { class: 'num' }, `${ms(st.latency.p95Ms)} / ${ms(st.latency.targetMs)}`),
            h('td', { class: 'num' }, `${pct(st.availability.errorRate)} / ${pct(st.availability.budget)}`),
            budgetCell(st.latency),
            budgetCell(st.availability),
            h('td', { class: 'num' }, `${burn(st.latency.burn5m)} · ${burn(st.availability.burn5m)}`),
            h('td', { class: 'num' }, `${burn(st.latency.burn1h)} · ${burn(st.availability.burn1h)}`),
            h('td', { class: 'num', 'data-field': 'rps' }, rate(st.rps)),
            h('td', { class: 'num', 'data-field': 'replicas' }, `${s.replicas.ready}/${s.replicas.desired}`),
            h('td', {}, split(s)),
            h('td', {}, s.policy),
          );
        }),
      );
      paintDots(this.body);
    }
    const seconds = Math.max(0, ...items.map((s) => s.sloStatus.historySeconds));
    fill(this.note, `p95, error rate and burn over 5 m are read from the last 5 minutes. Error budget left is judged over this process's history (${duration(seconds)} so far, at most an hour), not over the SLO's 30-day period.`);
  }
}

const WINDOWS = [5, 15, 60];

export class ServiceView {
  constructor(app, namespace, name) {
    this.app = app;
    this.key = `${namespace}/${name}`;
    this.namespace = namespace;
    this.name = name;
    this.windowMin = 5;
    this.analyses = [];
  }

  mount(root) {
    this.head = h('div', { class: 'service-head' });
    this.cards = h('div', { class: 'cards' });
    this.windowButtons = h(
      'div',
      { class: 'windows' },
      'Window: ',
      WINDOWS.map((m) =>
        h('button', { type: 'button', 'data-window': m, onclick: () => { this.windowMin = m; this.update(); } }, m < 60 ? `${m} min` : '1 h'),
      ),
    );
    this.latency = h('figure', { class: 'panel' });
    this.throughput = h('figure', { class: 'panel' });
    this.replicas = h('figure', { class: 'panel' });
    this.queue = h('figure', { class: 'panel' });
    this.decisions = h('ol', { class: 'decisions' });
    this.rolloutState = h('div', { class: 'rollout-state' });
    this.rolloutMessage = h('p', { class: 'rollout-message', role: 'status' });
    this.buttons = ['promote', 'abort', 'pause', 'resume'].map((command) =>
      h('button', { type: 'button', class: `rollout-button ${command}`, 'data-command': command, onclick: () => this.command(command) }, command[0].toUpperCase() + command.slice(1)),
    );
    this.analysisList = h('ol', { class: 'analyses' });
    this.drift = h('div', { class: 'drift', 'data-field': 'drift' });
    this.events = h('ol', { class: 'events' });
    fill(
      root,
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← Services')),
      this.head,
      this.cards,
      this.windowButtons,
      h('div', { class: 'panels' }, this.latency, this.throughput, this.replicas, this.queue),
      h(
        'div',
        { class: 'columns' },
        h('section', { class: 'box' }, h('h2', {}, 'Autoscaler decisions'), this.decisions),
        h(
          'section',
          { class: 'box rollout' },
          h('h2', {}, 'Rollout'),
          this.rolloutState,
          h('div', { class: 'buttons' }, this.buttons),
          this.rolloutMessage,
          h('h3', {}, 'Analysis windows'),
          this.analysisList,
        ),
      ),
      h('section', { class: 'box' }, h('h2', {}, 'Model drift'), this.drift),
      h('section', { class: 'box' }, h('h2', {}, 'Events'), this.events),
    );
    this.app.loadHistory(this.key).then(() => this.update(), (err) => this.app.showError(err));
    this.update();
  }

  async command(command) {
    fill(this.rolloutMessage, `${command}…`);
    try {
      const view = await this.app.rolloutCommand(this.namespace, this.name, command);
      fill(this.rolloutMessage, `${command}: done — ${view.rollout?.phase ?? 'no rollout'}${view.rollout?.message ? `: ${view.rollout.message}` : ''}`);
      this.rolloutMessage.dataset.result = 'ok';
    } catch (err) {
      fill(this.rolloutMessage, `${command} failed: ${err.message}`);
      this.rolloutMessage.dataset.result = 'error';
    }
  }

  update() {
    const summary = this.app.state.services.get(this.key);
    if (summary === undefined) {
      fill(this.head, h('h1', {}, this.name), h('p', { class: 'empty' }, `Service ${this.key} is not known (deleted, or not applied yet).`));
      return;
    }
    const st = summary.sloStatus;
    fill(
      this.head,
      h('h1', {}, summary.name, h('span', { class: 'ns' }, summary.namespace), ' ', sloBadge(st)),
      h('p', { class: 'slo-message' }, st.message),
    );
    const card = (label, value, field, cls = '') => h('div', { class: `card ${cls}` }, h('div', { class: 'label' }, label), h('div', { class: 'value', 'data-field': field }, value));
    fill(
      this.cards,
      card('p95 (5 m) / target', `${ms(st.latency.p95Ms)} / ${ms(st.latency.targetMs)}`, 'p95'),
      card('Error rate (5 m) / max', `${pct(st.availability.errorRate)} / ${pct(st.availability.budget)}`, 'errors'),
      card('Latency budget left', pct(st.latency.budgetLeft), 'latency-budget'),
      card('Error budget left', pct(st.availability.budgetLeft), 'error-budget'),
      card('Burn 5 m · 1 h (latency)', `${burn(st.latency.burn5m)} · ${burn(st.latency.burn1h)}`, 'latency-burn'),
      card('Burn 5 m · 1 h (errors)', `${burn(st.availability.burn5m)} · ${burn(st.availability.burn1h)}`, 'error-burn'),
      card('Replicas ready / desired', `${summary.replicas.ready} / ${summary.replicas.desired}`, 'replicas'),
      card('Traffic split', split(summary), 'split'),
      card('Policy', `${summary.policy} (${summary.replicas.min}–${summary.replicas.max})`, 'policy'),
    );
    paintDots(this.cards);
    for (const b of this.windowButtons.querySelectorAll('button')) b.classList.toggle('active', Number(b.dataset.window) === this.windowMin);

    const points = this.app.state.history.get(this.key) ?? [];
    const to = Math.max(this.app.state.now, points[points.length - 1]?.t ?? 0);
    // A history younger than the window fills the chart (at least a minute of it) rather than its right edge.
    const first = points[0]?.t ?? to;
    const from = Math.max(to - this.windowMin * 60_000, Math.min(first - 2_000, to - 60_000));
    const revisions = [...new Set(points.flatMap((p) => Object.keys(p.revisions)))];
    // [t, value, seconds]: a point older than 5 minutes is a minute's rollup, and its line runs on over the minute.
    const perRevision = (pick) => (rev) => points.map((p) => [p.t, p.revisions[rev] ? pick(p.revisions[rev]) : undefined, p.seconds]);
    const latencySeries = revisions.flatMap((rev) => {
      const color = revisionColor(rev);
      return [
        { label: `${rev} p50`, color, points: perRevision((r) => r.p50Ms)(rev), dash: '2 3', width: 1.2 },
        { label: `${rev} p95`, color, points: perRevision((r) => r.p95Ms)(rev), width: 2 },
        { label: `${rev} p99`, color, points: perRevision((r) => r.p99Ms)(rev), dash: '6 3', width: 1.2 },
      ];
    });
    fill(
      this.latency,
      h('figcaption', {}, 'Latency per revision (p50 dotted, p95 solid, p99 dashed), per second for the last 5 minutes and per minute before'),
      lineChart({ id: 'latency', label: 'latency', from, to, series: latencySeries, format: ms, threshold: { value: summary.slo.latencyP95Ms, label: `SLO p95 ${summary.slo.latencyP95Ms} ms` } }),
    );
    const throughputSeries = revisions.flatMap((rev) => [
      { label: `${rev} req/s`, color: revisionColor(rev), points: perRevision((r) => r.rps)(rev) },
      { label: `${rev} 5xx/s`, color: '#dc2626', points: perRevision((r) => (r.requests > 0 ? (r.errors * r.rps) / r.requests : 0))(rev), dash: '4 2', width: 1.2 },
    ]);
    fill(this.throughput, h('figcaption', {}, 'Throughput and server errors per revision (requests per second)'), lineChart({ id: 'throughput', label: 'throughput', from, to, series: throughputSeries, format: (v) => v.toFixed(v < 10 ? 1 : 0) }));

    const marks = points.filter((p) => p.scale).map((p) => ({ t: p.t, label: `${p.scale.from}→${p.scale.to}`, title: `${p.scale.message}${changes(p.scale)}`, color: p.scale.to > p.scale.from ? '#059669' : '#d97706' }));
    fill(
      this.replicas,
      h('figcaption', {}, 'Replicas: ready and desired, with each autoscaler decision'),
      lineChart({
        id: 'replicas',
        label: 'replicas',
        from,
        to,
        minMax: Math.max(1, summary.replicas.max > 10 ? 1 : summary.replicas.max),
        format: (v) => String(Math.round(v * 10) / 10),
        series: [
          { label: 'ready', color: '#2563eb', points: points.map((p) => [p.t, p.ready, p.seconds]), step: true, width: 2.2 },
          { label: 'desired', color: '#94a3b8', points: points.map((p) => [p.t, p.desired, p.seconds]), step: true, dash: '5 3' },
        ],
        marks,
      }),
    );
    const coldMarks = points.flatMap((p) => p.coldStarts.map((c) => ({ t: p.t, label: `cold ${ms(c)}`, title: `a replica became ready ${ms(c)} after it was started`, color: '#9333ea' })));
    fill(
      this.queue,
      h('figcaption', {}, 'Queue depth, held requests and cold starts'),
      lineChart({
        id: 'queue',
        label: 'queue',
        from,
        to,
        minMax: 1,
        format: (v) => String(Math.round(v * 10) / 10),
        series: [
          { label: 'queue depth', color: '#0891b2', points: points.map((p) => [p.t, p.queueDepth, p.seconds]) },
          { label: 'held (no replica)', color: '#9333ea', points: points.map((p) => [p.t, p.held, p.seconds]), step: true },
        ],
        marks: coldMarks,
      }),
    );

    const decisions = points.filter((p) => p.scale).slice(-12).reverse();
    fill(
      this.decisions,
      summary.autoscaler ? h('li', { class: 'current' }, h('b', {}, `now: ${summary.autoscaler.desiredReplicas} (${summary.autoscaler.reason}${summary.autoscaler.panic ? ', panic' : ''})`), ' ', summary.autoscaler.message) : null,
      decisions.map((p) => h('li', { 'data-decision': p.scale.reason }, h('time', {}, clock(p.t)), ' ', h('b', {}, `${p.scale.from}→${p.scale.to}`), ` ${p.scale.reason}: ${p.scale.message}${changes(p.scale)}`)),
      decisions.length === 0 && !summary.autoscaler ? h('li', { class: 'empty' }, 'No decision yet.') : null,
    );

    this.updateRollout(summary);
    this.updateDrift(summary.drift);
    const events = this.app.state.events.filter((e) => e.namespace === summary.namespace && e.service === summary.name).slice(-30).reverse();
    fill(this.events, events.length === 0 ? h('li', { class: 'empty' }, 'No events yet.') : events.map(eventItem));
  }

  /** The drift watch's verdict and each watched column's PSI and KS at its worst replica; past the threshold in red. */
  updateDrift(drift) {
    if (!drift) {
      fill(this.drift, h('p', { class: 'empty' }, 'Not measured: karb reads drift from replicas of its own ONNX server.'));
      return;
    }
    const value = (v) => (v === null ? '–' : v.toFixed(3));
    fill(
      this.drift,
      h('p', {}, h('span', { class: `badge ${drift.status === 'True' ? 'bad' : drift.status === 'False' ? 'ok' : 'none'}`, 'data-field': 'drift-status' }, drift.status === 'True' ? 'Drift' : drift.status === 'False' ? 'No drift' : drift.reason), ' ', drift.message),
      drift.columns.length === 0
        ? null
        : h(
            'table',
            { class: 'services drift-columns' },
            h('thead', {}, h('tr', {}, h('th', {}, 'Column'), h('th', {}, 'Side'), h('th', {}, `PSI (drift ≥ ${drift.threshold})`), h('th', {}, 'KS'))),
            h(
              'tbody',
              {},
              drift.columns.map((c) =>
                h('tr', { 'data-column': c.name, class: c.side === 'input' && c.psi !== null && c.psi >= drift.threshold ? 'drifted' : '' }, h('td', {}, c.name), h('td', {}, c.side), h('td', {}, value(c.psi)), h('td', {}, value(c.ks))),
              ),
            ),
          ),
    );
  }

  updateRollout(summary) {
    const r = summary.rollout; // status.rollout: step is "2/3", times are ISO strings
    const spec = summary.rolloutSpec;
    const steps = spec.strategy === 'canary' ? spec.steps : [];
    const active = r && ['Starting', 'Progressing', 'Previewing', 'Promoting'].includes(r.phase);
    const stepIndex = typeof r?.step === 'string' ? Number(r.step.split('/')[0]) - 1 : -1;
    if (r?.lastAnalysis && this.analyses[this.analyses.length - 1]?.at !== r.lastAnalysis.at) {
      this.analyses.push({ ...r.lastAnalysis, step: r.step, weight: r.weight });
      if (this.analyses.length > 50) this.analyses.shift();
    }
    const guard = r?.guard;
    fill(
      this.rolloutState,
      h(
        'p',
        {},
        `Strategy ${spec.strategy} · `,
        r ? h('span', { 'data-field': 'rollout-phase', class: `phase ${r.phase}` }, `${r.phase}${r.paused ? ' (paused)' : ''}`) : h('span', { 'data-field': 'rollout-phase' }, 'no rollout'),
        r ? ` · ${r.revision} at ${r.weight}%, stable ${r.stable}` : ` · stable ${summary.stableRevision ?? '–'}`,
      ),
      steps.length > 0
        ? h(
            'ol',
            { class: 'steps' },
            steps.map((st, i) => h('li', { class: r && active && i === stepIndex ? 'current' : r && (i < stepIndex || r.phase === 'Succeeded' || r.phase === 'Promoting') ? 'done' : '' }, `${st.weight}% for ${st.pause}`)),
          )
        : null,
      r ? h('p', { class: 'note' }, r.message) : null,
      guard
        ? h('p', { class: 'note', 'data-field': 'guard' }, `Guard after promotion: ${guard.phase} until ${clock(Date.parse(guard.until))}`, guard.lastEvaluation ? ` — ${guard.lastEvaluation.verdict}: ${guard.lastEvaluation.message}` : '')
        : null,
    );
    for (const b of this.buttons) {
      const c = b.dataset.command;
      b.disabled = !active || (c === 'pause' && r.paused) || (c === 'resume' && !r.paused);
    }
    fill(
      this.analysisList,
      this.analyses.length === 0
        ? h('li', { class: 'empty' }, 'No analysis yet.')
        : [...this.analyses].reverse().map((a) =>
            h('li', { 'data-verdict': a.verdict }, h('time', {}, clock(Date.parse(a.at))), ' ', h('span', { class: `verdict ${a.verdict}` }, a.verdict), ` ${a.step ? `step ${a.step}, ` : ''}${a.weight}%: ${a.message}`),
          ),
    );
  }
}

function eventItem(e) {
  return h(
    'li',
    { class: e.type === 'Warning' ? 'warning' : '', 'data-reason': e.reason },
    h('time', {}, clock(Date.parse(e.time))),
    ' ',
    h('b', {}, e.reason),
    ' ',
    h('span', { class: 'ns' }, `${e.namespace}/${e.service}${e.revision ? ` ${e.revision}` : ''}`),
    ' ',
    e.message,
  );
}

export class EventsView {
  constructor(app) {
    this.app = app;
  }

  mount(root) {
    this.list = h('ol', { class: 'events', 'data-live': 'events' });
    fill(root, h('h1', {}, 'Events'), h('p', { class: 'note' }, 'Live from the control plane, newest first.'), this.list);
    this.update();
  }

  update() {
    const events = this.app.state.events.slice(-300).reverse();
    fill(this.list, events.length === 0 ? h('li', { class: 'empty' }, 'No events yet.') : events.map(eventItem));
  }
}
