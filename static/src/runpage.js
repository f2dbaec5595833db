// The run page: follows one run live from the seq the server rendered up to.
import { CellOutput, STATUS_WORDS, renderStatus } from './output.js';
import { connect, el, fmtDuration } from './dom.js';
import { Preview } from './prose.js';

const FINAL = new Set(['succeeded', 'failed', 'skipped', 'canceled']);

export function mountRunPage(root) {
  const runId = root.dataset.run;
  let since = Number(root.dataset.since || 0);
  let finished = FINAL.has(root.dataset.status);
  const runStart = root.dataset.startedAt ? Date.parse(root.dataset.startedAt) : Date.now();
  let runEnd = finished && root.dataset.finishedAt ? Date.parse(root.dataset.finishedAt) : null;
  const logBase = root.dataset.logBase || `/runs/${encodeURIComponent(runId)}/log`;
  const logUrl = (cell) => `${logBase}?cell=${encodeURIComponent(cell)}`;
  const markdownUrl = root.dataset.markdownUrl || `/runs/${encodeURIComponent(runId)}/markdown`;
  // A markdown cell's prose: the server's rendering of the text it ran with.
  const proses = new Map();
  const prose = (sec) => {
    if (!proses.has(sec)) proses.set(sec, new Preview(markdownUrl, () => sec.querySelector('[data-prose]')));
    return proses.get(sec);
  };
  const section = (name) => [...root.querySelectorAll('section[data-cell]')].find((s) => s.dataset.cell === name);
  // A cell the server did not render (the page was opened before the run
  // said which cells it runs) gets its section from the events, after the
  // last one, as views' RunPage would have rendered it.
  const addSection = (name) => {
    const sec = el('section', { class: 'cell run-cell', 'data-cell': name, 'data-kind': '', id: 'cell-' + name, 'data-state': 'pending' },
      el('header', { class: 'cell-head' },
        el('h2', {}, name),
        el('span', { class: 'kind-label' }),
        el('div', { class: 'cell-status', 'data-status': '' })),
      el('div', { class: 'cell-output', 'data-output': '' }));
    const all = root.querySelectorAll('section[data-cell]');
    if (all.length) all[all.length - 1].after(sec);
    else root.append(sec);
    return sec;
  };
  const outputs = new Map();
  const output = (name) => {
    if (!name) return null;
    if (!outputs.has(name)) outputs.set(name, new CellOutput(section(name) || addSection(name), { logUrl }));
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
      if (sentence && !finished) sentence.textContent = `In progress: ${done} of ${times.size} steps done.`;
      progress.setAttribute('aria-valuenow', String(done));
      progress.setAttribute('aria-valuemax', String(times.size));
    }
  };
  drawTimeline();
  const ticker = setInterval(() => (finished ? clearInterval(ticker) : drawTimeline()), 1000);

  const setRunStatus = (status, durationMs, error) => {
    root.dataset.status = status;
    const sentence = root.querySelector('[data-run-sentence]');
    if (sentence && FINAL.has(status)) sentence.textContent = runSentence(status, durationMs, error);
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

  // The run in one plain sentence, as views' runSentence writes it.
  const runSentence = (status, durationMs, error) => {
    const d = fmtDuration(durationMs);
    const named = /^cell ([^:]+):/.exec(error || '');
    const failedAt = named ? named[1] : [...times.entries()].reverse().find(([, t]) => t.status === 'failed')?.[0];
    switch (status) {
      case 'succeeded':
        return `Finished in ${d} — ${stepsWords()}.`;
      case 'failed':
        return failedAt ? `Failed at step “${failedAt}” after ${d}.` : `Failed after ${d}.`;
      case 'canceled':
        return 'Stopped before it finished.';
      case 'skipped':
        return 'Skipped: another run of this flow was still going.';
    }
    return '';
  };
  const stepsWords = () => {
    const all = [...times.values()];
    const n = (s) => all.filter((t) => t.status === s).length;
    const ok = n('succeeded'), skipped = n('skipped'), failed = n('failed'), total = all.length;
    if (total === 0) return 'there were no steps';
    if (ok === total) return total === 1 ? 'its one step succeeded' : `all ${total} steps succeeded`;
    let s = `${ok} of ${total} steps succeeded`;
    if (skipped) s += `, ${skipped} skipped`;
    if (failed) s += `, ${failed} failed`;
    return s;
  };
  // "Re-run from CELL" (rendered hidden for runners while the run goes
  // on): a failed or canceled run is re-run from its first cell, in the
  // flow's order, that did not end well, as the server decides.
  const showRerun = (status) => {
    const form = root.querySelector('[data-rerun-form]');
    if (!form || (status !== 'failed' && status !== 'canceled')) return;
    const from = [...root.querySelectorAll('section[data-cell]')].map((s) => s.dataset.cell)
      .find((name) => !['succeeded', 'skipped'].includes(times.get(name)?.status));
    if (!from) return;
    form.querySelector('[data-rerun-cell]').textContent = from;
    form.hidden = false;
  };

  const handle = (ev) => {
    if (ev.seq <= since) return; // already rendered or received
    since = ev.seq;
    switch (ev.type) {
      case 'run.resumed':
        // A run that waited goes on: its approval was decided.
        setRunStatus('running');
        break;
      case 'run.started':
        setRunStatus('running');
        (ev.cells || []).forEach((c) => {
          tl(c);
          output(c);
        });
        break;
      case 'approval.requested': {
        // The run waits for people: its worker is free. The server
        // renders the message, the form and the trail; fetch them once.
        setRunStatus('waiting');
        const out = output(ev.cell);
        if (out) out.handle(ev);
        const t = tl(ev.cell);
        if (t) t.status = 'waiting';
        const sec = section(ev.cell);
        if (sec && !sec.querySelector('[data-approval]')) location.reload();
        break;
      }
      case 'run.finished':
        finished = true;
        runEnd = Date.parse(ev.at) || Date.now();
        setRunStatus(ev.status, ev.duration_ms, ev.error);
        for (const t of times.values()) if (!FINAL.has(t.status)) t.status = 'canceled';
        // An ended run has nothing to cancel (views' RunPage renders no
        // button for it either).
        root.querySelector('[data-cancel-form]')?.remove();
        showRerun(ev.status);
        break;
      default: {
        const out = output(ev.cell);
        if (out) out.handle(ev);
        const t = ev.cell && tl(ev.cell);
        if (!t) break;
        if (ev.type === 'cell.finished') {
          const sec = section(ev.cell);
          if (sec && sec.querySelector('[data-prose]') && ev.result && typeof ev.result.text === 'string') prose(sec).update(ev.result.text);
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
  // The stream ended for good (the server said why, or the page's address
  // is gone): nothing more will come, so the page stops ticking and says so.
  let ended = false;
  const end = (reason) => {
    if (ended) return;
    ended = true;
    clearInterval(ticker);
    live.close();
    if (!conn) return;
    conn.hidden = false;
    conn.dataset.conn = 'ended';
    conn.textContent = reason;
  };
  const live = connect(url, {
    shouldReconnect: () => !finished && !ended,
    // A decision made between the page's render and its socket opening
    // (or while it was offline) makes no event to replay: take the panels
    // of the approvals that still wait afresh once the socket is open.
    onOpen: () => {
      for (const p of root.querySelectorAll('[data-approval="waiting"]')) {
        const cell = p.closest('section[data-cell]')?.dataset.cell;
        if (cell) refreshApproval(cell);
      }
    },
    onState: (s, reason) => {
      if (ended) return;
      if (reason && !finished) {
        // Closed by the server with a reason: a revoked link, a signed-out
        // session.
        end(reason);
        return;
      }
      if (!conn) return;
      conn.dataset.conn = s;
      conn.hidden = s === 'done';
      conn.textContent = { connecting: 'connecting…', open: 'live', closed: 'offline — reconnecting' }[s] || '';
      if (s === 'closed') checkGone();
    },
    onMessage: (msg) => {
      if (msg.t === 'event' && msg.event) handle(msg.event);
      else if (msg.t === 'missed') output(msg.cell)?.missed(msg.lines);
      else if (msg.t === 'approval.vote') refreshApproval(msg.cell);
    },
  });
  // Someone decided an approval that still waits for others: the server
  // renders the trail (and whether this viewer may still decide), so take
  // the cell's approval panel from a fresh copy of the page.
  const refreshApproval = (cell) => {
    fetch(location.href, { cache: 'no-store', credentials: 'same-origin' }).then(async (r) => {
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      const fresh = [...doc.querySelectorAll('section[data-cell]')].find((s) => s.dataset.cell === cell)?.querySelector('[data-approval]');
      const old = section(cell)?.querySelector('[data-approval]');
      // Only when something changed: a panel replaced for nothing would
      // take the form from under someone about to fill it in.
      const trail = (p) => p.querySelector('[data-approval-trail]')?.textContent ?? '';
      if (!fresh || !old || (fresh.dataset.approval === old.dataset.approval && trail(fresh) === trail(old))) return;
      if (!old.contains(document.activeElement)) old.replaceWith(document.importNode(fresh, true));
    }, () => {});
  };
  // A socket refused before it opens tells the page nothing (a browser
  // hides the HTTP answer): ask the socket's address plainly, and stop when
  // it is gone (a share link revoked or expired while the page was offline).
  const checkGone = () => {
    fetch(url(), { cache: 'no-store', credentials: 'same-origin' }).then(async (r) => {
      if (r.status !== 404 && r.status !== 410) return;
      const plain = (r.headers.get('content-type') || '').startsWith('text/plain');
      const text = plain ? (await r.text()).trim() : '';
      end(text || (root.dataset.logBase ? 'This link was revoked or has expired.' : 'This run is gone.'));
    }, () => {});
  };
}

export { renderStatus };
