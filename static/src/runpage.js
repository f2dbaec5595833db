// The run page: follows one run live from the seq the server rendered up to.
import { CellOutput, STATUS_WORDS, renderStatus } from './output.js';
import { connect, el, fmtDuration } from './dom.js';
import { drawChart } from './chart.js';
import { renderMarkdown } from './markdown.js';

const FINAL = new Set(['succeeded', 'failed', 'skipped', 'canceled']);

export function mountRunPage(root) {
  const runId = root.dataset.run;
  let since = Number(root.dataset.since || 0);
  let finished = FINAL.has(root.dataset.status);
  const runStart = root.dataset.startedAt ? Date.parse(root.dataset.startedAt) : Date.now();
  let runEnd = finished && root.dataset.finishedAt ? Date.parse(root.dataset.finishedAt) : null;
  const logBase = root.dataset.logBase || `/runs/${encodeURIComponent(runId)}/log`;
  const logUrl = (cell) => `${logBase}?cell=${encodeURIComponent(cell)}`;
  const section = (name) => [...root.querySelectorAll('section[data-cell]')].find((s) => s.dataset.cell === name);
  // Charts of the results rendered by the server.
  root.querySelectorAll('section[data-cell]').forEach((s) => {
    const c = s.querySelector('[data-chart]');
    if (!c || !c.dataset.chart) return;
    try {
      drawChart(c, JSON.parse(c.dataset.chart), s.dataset.kind);
    } catch {
      c.hidden = true;
    }
  });

  const outputs = new Map();
  const output = (name) => {
    if (!outputs.has(name)) {
      const section = [...root.querySelectorAll('section[data-cell]')].find((s) => s.dataset.cell === name);
      if (!section) return null;
      outputs.set(name, new CellOutput(section, { logUrl }));
    }
    return outputs.get(name);
  };
  root.querySelectorAll('section[data-cell]').forEach((s) => output(s.dataset.cell));

  // Timeline rows: one per cell, with its start and end times.
  const timeline = root.querySelector('[data-timeline]');
  const times = new Map();
  timeline?.querySelectorAll('[data-tl]').forEach((row) => {
    times.set(row.dataset.tl, {
      row,
      start: row.dataset.start ? Date.parse(row.dataset.start) : null,
      end: row.dataset.end ? Date.parse(row.dataset.end) : null,
      status: row.dataset.status || 'pending',
    });
  });
  const tl = (name) => {
    if (!times.has(name) && timeline) {
      const row = el('div', { class: 'tl-row', 'data-tl': name },
        el('span', { class: 'tl-name' }, name),
        el('span', { class: 'tl-track' }, el('span', { class: 'tl-bar' })),
        el('span', { class: 'tl-dur muted' }));
      timeline.append(row);
      times.set(name, { row, start: null, end: null, status: 'pending' });
    }
    return times.get(name);
  };

  const drawTimeline = () => {
    const now = runEnd ?? Date.now();
    const total = Math.max(1, now - runStart);
    for (const t of times.values()) {
      t.row.dataset.status = t.status;
      const bar = t.row.querySelector('.tl-bar');
      if (t.start == null) {
        bar.style.width = '0';
        continue;
      }
      const end = t.end ?? now;
      bar.className = 'tl-bar bar-' + t.status;
      bar.style.marginLeft = `${(100 * Math.max(0, t.start - runStart)) / total}%`;
      bar.style.width = `max(2px, ${(100 * Math.max(0, end - t.start)) / total}%)`;
      t.row.querySelector('.tl-dur').textContent = fmtDuration(end - t.start);
    }
    const progress = root.querySelector('[data-progress]');
    if (progress && times.size) {
      const done = [...times.values()].filter((t) => FINAL.has(t.status)).length;
      const bar = progress.querySelector('.progress-bar');
      if (bar) bar.style.width = `${(100 * done) / times.size}%`;
      const text = root.querySelector('[data-progress-text]');
      if (text) text.textContent = `${done} of ${times.size} cells done`;
      const sentence = root.querySelector('[data-run-sentence]');
      if (sentence && !finished) sentence.textContent = `This run is in progress: ${done} of ${times.size} steps done.`;
      progress.setAttribute('aria-valuenow', String(done));
      progress.setAttribute('aria-valuemax', String(times.size));
    }
  };
  drawTimeline();
  const ticker = setInterval(() => (finished ? clearInterval(ticker) : drawTimeline()), 1000);

  const setRunStatus = (status, durationMs, error) => {
    root.dataset.status = status;
    const sentence = root.querySelector('[data-run-sentence]');
    if (sentence && FINAL.has(status)) {
      const failedAt = [...times.entries()].find(([, t]) => t.status === 'failed');
      sentence.textContent = {
        succeeded: `This run finished successfully in ${fmtDuration(durationMs)}.`,
        failed: failedAt ? `This run failed at step “${failedAt[0]}” after ${fmtDuration(durationMs)}.` : `This run failed after ${fmtDuration(durationMs)}.`,
        canceled: 'This run was stopped before it finished.',
      }[status] || '';
    }
    const words = root.querySelector('[data-run-status]');
    if (words) {
      words.replaceChildren(el('span', { class: 'chip chip-' + status }, STATUS_WORDS[status] || status));
      if (durationMs != null && FINAL.has(status)) words.append(' ', el('span', { class: 'muted' }, `in ${fmtDuration(durationMs)}`));
    }
    const err = root.querySelector('[data-run-error]');
    if (err && error) {
      err.hidden = false;
      err.textContent = error;
    }
  };

  const handle = (ev) => {
    if (ev.seq <= since) return; // already rendered or received
    since = ev.seq;
    switch (ev.type) {
      case 'run.started':
        setRunStatus('running');
        (ev.cells || []).forEach((c) => tl(c));
        break;
      case 'run.finished':
        finished = true;
        runEnd = Date.parse(ev.at) || Date.now();
        setRunStatus(ev.status, ev.duration_ms, ev.error);
        for (const t of times.values()) if (!FINAL.has(t.status)) t.status = 'canceled';
        break;
      default: {
        const out = output(ev.cell);
        if (out) out.handle(ev);
        const t = ev.cell && tl(ev.cell);
        if (!t) break;
        if (ev.type === 'cell.finished') {
          const sec = section(ev.cell);
          if (sec) {
            drawChart(sec.querySelector('[data-chart]'), ev.result, sec.dataset.kind);
            const prose = sec.querySelector('[data-prose]');
            if (prose && ev.result && typeof ev.result.text === 'string') prose.replaceChildren(renderMarkdown(ev.result.text));
          }
        }
        if (ev.type === 'cell.started') {
          if (t.start == null) t.start = Date.parse(ev.at);
          t.status = 'running';
          t.end = null;
        } else if (ev.type === 'cell.finished') {
          t.status = ev.status;
          t.end = Date.parse(ev.at);
          if (t.start == null && ev.duration_ms) t.start = t.end - ev.duration_ms;
          else if (t.start == null) t.start = t.end;
        }
      }
    }
    drawTimeline();
  };

  if (finished || !root.dataset.socket) return;
  const socket = root.dataset.socket;
  const conn = root.querySelector('[data-conn]');
  const url = () => (/[?&]since=/.test(socket) ? socket.replace(/([?&]since=)\d*/, `$1${since}`) : `${socket}${socket.includes('?') ? '&' : '?'}since=${since}`);
  connect(url, {
    shouldReconnect: () => !finished,
    onState: (s) => {
      if (!conn) return;
      conn.dataset.conn = s;
      conn.hidden = s === 'done';
      conn.textContent = { connecting: 'connecting…', open: 'live', closed: 'offline — reconnecting' }[s] || '';
    },
    onMessage: (msg) => {
      if (msg.t === 'event' && msg.event) handle(msg.event);
      else if (msg.t === 'missed') output(msg.cell)?.missed(msg.lines);
    },
  });
}

export { renderStatus };
