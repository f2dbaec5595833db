// Per-cell output from run events, shared by the notebook and the run page.
// Everything that comes from a run (lines, results, names) is put in the page
// as textContent, never as HTML.
import { renderAnsi } from './ansi.js';
import { el, fmtDuration } from './dom.js';

const MAX_BYTES = 10 * 1024 * 1024; // lines kept per cell before cutting
const MAX_LINE_CHARS = 4000; // longer lines are drawn cut (the log has them whole)
const MAX_SCROLL_PX = 8_000_000; // browsers cap element heights; map beyond this
const TABLE_ROWS = 200;
const TREE_CHILDREN = 200;

// One requestAnimationFrame for every pending DOM update on the page.
const dirty = new Set();
let frame = 0;
export function schedule(target) {
  dirty.add(target);
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      const list = [...dirty];
      dirty.clear();
      for (const t of list) t.flush();
    });
  }
}

/**
 * A windowed list of output lines: all lines live in an array, only the rows
 * in view are in the DOM. Rows have one fixed height (lines do not wrap).
 */
export class LineList {
  constructor(box) {
    this.box = box; // the scrolling element
    this.box.classList.add('vlist');
    this.box.replaceChildren();
    this.spacer = el('div', { class: 'vlist-spacer' });
    this.rows = el('div', { class: 'vlist-rows' });
    this.spacer.append(this.rows);
    this.box.append(this.spacer);
    this.lines = []; // strings, or detached server-rendered row elements
    this.err = new Uint8Array(256); // 1 where the line is stderr
    this.bytes = 0;
    this.cut = false;
    this.rowH = 0;
    this.follow = true;
    this.box.addEventListener('scroll', () => {
      const b = this.box;
      this.follow = b.scrollTop + b.clientHeight >= b.scrollHeight - 4;
      schedule(this);
    }, { passive: true });
  }

  get length() {
    return this.lines.length;
  }

  /** Adds lines; returns false once the cell's memory budget is used up. */
  push(lines, stderr) {
    for (const line of lines) {
      if (this.cut) return false;
      const size = typeof line === 'string' ? line.length + 16 : 64;
      if (this.bytes + size > MAX_BYTES) {
        this.cut = true;
        return false;
      }
      this.bytes += size;
      const i = this.lines.length;
      if (i >= this.err.length) {
        const grown = new Uint8Array(this.err.length * 2);
        grown.set(this.err);
        this.err = grown;
      }
      this.err[i] = stderr ? 1 : 0;
      this.lines.push(line);
    }
    schedule(this);
    return true;
  }

  clear() {
    this.lines = [];
    this.err = new Uint8Array(256);
    this.bytes = 0;
    this.cut = false;
    this.follow = true;
    schedule(this);
  }

  measure() {
    const probe = el('div', { class: 'ln' }, 'M');
    this.rows.append(probe);
    this.rowH = probe.getBoundingClientRect().height || 18;
    probe.remove();
  }

  flush() {
    const n = this.lines.length;
    this.box.hidden = n === 0;
    if (n === 0) {
      this.rows.replaceChildren();
      return;
    }
    if (!this.rowH) this.measure();
    const h = this.rowH;
    const total = n * h;
    const spacerH = Math.min(total, MAX_SCROLL_PX);
    this.spacer.style.height = spacerH + 'px';
    const view = this.box.clientHeight || 400;
    if (this.follow) this.box.scrollTop = spacerH;
    const top = this.box.scrollTop;
    // Past MAX_SCROLL_PX the scrollbar maps proportionally onto the lines.
    const ratio = spacerH > view ? (total - view) / (spacerH - view) : 1;
    const px = top * ratio;
    const first = Math.max(0, Math.floor(px / h) - 5);
    const count = Math.ceil(view / h) + 10;
    const end = Math.min(n, first + count);
    this.rows.style.transform = `translateY(${top - (px - first * h)}px)`;
    const frag = document.createDocumentFragment();
    for (let i = first; i < end; i++) frag.append(this.row(i));
    this.rows.replaceChildren(frag);
  }

  row(i) {
    const line = this.lines[i];
    if (typeof line !== 'string') return line.cloneNode(true);
    const div = el('div', { class: this.err[i] ? 'ln ln-err' : 'ln' });
    if (line.length > MAX_LINE_CHARS) {
      renderAnsi(div, line.slice(0, MAX_LINE_CHARS));
      div.append(el('span', { class: 'ln-more' }, ` … ${line.length - MAX_LINE_CHARS} more characters`));
    } else {
      renderAnsi(div, line);
    }
    return div;
  }
}

/** Human words for statuses, for people who do not read code. */
export const STATUS_WORDS = {
  queued: 'Waiting to start',
  pending: 'Waiting',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  skipped: 'Skipped',
  canceled: 'Canceled',
};

/** Fills a status element: a chip with the status, attempt and duration. */
export function renderStatus(node, status, { attempt = 0, attempts = 0, durationMs = null } = {}) {
  node.dataset.status = status || '';
  node.replaceChildren();
  if (!status) return;
  node.append(el('span', { class: 'chip chip-' + status }, status));
  const n = attempts || attempt;
  if (n > 1 || (status === 'running' && attempt > 1)) node.append(el('span', { class: 'muted' }, `attempt ${n}`));
  if (durationMs != null && status !== 'running' && status !== 'pending') {
    node.append(el('span', { class: 'muted' }, fmtDuration(durationMs)));
  }
}

/**
 * The output of one cell: its status element, its lines, its result. `section`
 * holds [data-status] and [data-output] (server-rendered or empty).
 */
export class CellOutput {
  constructor(section, { logUrl } = {}) {
    this.section = section;
    this.logUrl = logUrl; // (cellName) => URL of the whole log
    this.statusEl = section.querySelector('[data-status]');
    this.out = section.querySelector('[data-output]');
    this.pendingResult = null;
    this.ensureParts();
    // Server-rendered rows become the list's first lines, kept as elements.
    const rows = [...this.linesEl.querySelectorAll('.ln')];
    this.list = new LineList(this.linesEl);
    this.list.push(rows, false);
    rows.forEach((r, i) => { this.list.err[i] = r.classList.contains('ln-err') ? 1 : 0; });
    if (this.noteEl.textContent.trim() === '') this.noteEl.hidden = true;
    if (this.errorEl.textContent.trim() === '') this.errorEl.hidden = true;
  }

  get name() {
    return this.section.dataset.cell;
  }

  get kind() {
    return this.section.dataset.kind;
  }

  ensureParts() {
    const part = (sel, tag, cls) => {
      let n = this.out.querySelector(sel);
      if (!n) {
        n = el(tag, { class: cls });
        n.setAttribute(sel.slice(1, -1), '');
        this.out.append(n);
      }
      return n;
    };
    this.linesEl = part('[data-lines]', 'div', 'out-lines');
    this.noteEl = part('[data-note]', 'p', 'out-note');
    this.resultEl = part('[data-result]', 'div', 'out-result');
    this.errorEl = part('[data-error]', 'p', 'out-error');
  }

  reset() {
    this.list.clear();
    this.noteEl.replaceChildren();
    this.noteEl.hidden = true;
    this.resultEl.replaceChildren();
    this.errorEl.replaceChildren();
    this.errorEl.hidden = true;
    this.setStatus('pending');
  }

  setStatus(status, extra) {
    if (this.statusEl) renderStatus(this.statusEl, status, extra);
    this.section.dataset.state = status || '';
  }

  handle(ev) {
    switch (ev.type) {
      case 'cell.started':
        if (ev.attempt > 1) this.list.push([`── attempt ${ev.attempt} ──`], true);
        this.setStatus('running', { attempt: ev.attempt });
        break;
      case 'cell.log':
        if (!this.list.push(ev.lines || [], ev.stream === 'stderr')) this.showCut();
        break;
      case 'cell.finished':
        this.setStatus(ev.status, { attempts: ev.attempts, durationMs: ev.duration_ms });
        this.errorEl.hidden = !ev.error;
        this.errorEl.textContent = ev.error || '';
        this.resultEl.replaceChildren();
        if (ev.result !== undefined && ev.result !== null) this.resultEl.append(renderResult(ev.result, this.kind));
        break;
    }
  }

  missed(n) {
    this.showNote(`${n} lines were skipped because the connection was slow — `);
  }

  showCut() {
    if (this.noteEl.dataset.cut) return;
    this.noteEl.dataset.cut = '1';
    this.showNote('output cut at 10 MB — ');
  }

  showNote(text) {
    this.noteEl.hidden = false;
    this.noteEl.replaceChildren(text);
    const url = this.logUrl && this.logUrl(this.name);
    if (url) this.noteEl.append(el('a', { href: url, download: '' }, 'download the full log'));
  }
}

// ---- results ----

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Renders what a cell gives later cells, according to its kind. */
export function renderResult(result, kind) {
  const box = el('div', { class: 'result' });
  if (!isPlainObject(result)) {
    box.append(renderValue(result));
    return box;
  }
  switch (kind) {
    case 'sql':
      if (Array.isArray(result.columns) && Array.isArray(result.rows)) {
        if (result.columns.length) box.append(renderTable(result.columns, result.rows));
        if (result.affected) box.append(el('p', { class: 'muted' }, `${result.affected} rows affected`));
        return box;
      }
      break;
    case 'http':
      if ('status' in result) {
        const cls = result.status >= 400 ? 'chip chip-failed' : 'chip chip-succeeded';
        box.append(el('p', { class: 'http-status' }, el('span', { class: cls }, `HTTP ${result.status}`)));
        if (isPlainObject(result.headers) && Object.keys(result.headers).length) {
          box.append(el('details', { class: 'headers' }, el('summary', {}, 'Headers'), renderTree(result.headers, 0)));
        }
        if (result.body !== undefined && result.body !== null && result.body !== '') box.append(renderValue(result.body));
        return box;
      }
      break;
    case 'expr':
      if ('value' in result) {
        box.append(el('span', { class: 'muted' }, '= '), renderValue(result.value));
        return box;
      }
      break;
    case 'shell':
    case 'python':
      if ('exit_code' in result) {
        if (result.exit_code !== 0) box.append(el('p', { class: 'muted' }, `exit code ${result.exit_code}`));
        if (isPlainObject(result.outputs) && Object.keys(result.outputs).length) {
          box.append(el('p', { class: 'label' }, 'outputs'), renderValue(result.outputs));
        }
        return box;
      }
      break;
    case 'markdown':
      return box;
  }
  box.append(renderValue(result));
  return box;
}

/** A list of objects becomes a table, other structures a tree, scalars inline. */
export function renderValue(v) {
  if (Array.isArray(v) && v.length && v.every(isPlainObject)) {
    const cols = [];
    const seen = new Set();
    for (const row of v.slice(0, TABLE_ROWS)) {
      for (const k of Object.keys(row)) {
        if (!seen.has(k) && cols.length < 50) {
          seen.add(k);
          cols.push(k);
        }
      }
    }
    return renderTable(cols, v);
  }
  if (v !== null && typeof v === 'object') return renderTree(v, 0);
  return scalar(v);
}

function scalar(v) {
  const type = v === null ? 'null' : typeof v;
  return el('code', { class: 'v v-' + type }, type === 'string' ? JSON.stringify(v) : String(v));
}

function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function renderTable(columns, rows) {
  const wrap = el('div', { class: 'table-wrap' });
  const table = el('table', { class: 'data' });
  table.append(el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', {}, String(c))))));
  const body = el('tbody');
  for (const row of rows.slice(0, TABLE_ROWS)) {
    const get = Array.isArray(row) ? (c, i) => row[i] : (c) => (row ? row[c] : undefined);
    body.append(el('tr', {}, ...columns.map((c, i) => {
      const v = get(c, i);
      return el('td', { class: v === null ? 'null' : typeof v === 'number' ? 'num' : '' }, v === null ? 'null' : cellText(v));
    })));
  }
  table.append(body);
  wrap.append(table);
  const note = rows.length > TABLE_ROWS ? `showing ${TABLE_ROWS} of ${rows.length} rows` : `${rows.length} row${rows.length === 1 ? '' : 's'}`;
  wrap.append(el('p', { class: 'muted' }, note));
  return wrap;
}

/** A collapsible JSON tree; levels below the second start closed. */
export function renderTree(v, depth) {
  if (v === null || typeof v !== 'object') return scalar(v);
  const isArr = Array.isArray(v);
  const keys = isArr ? v.map((_, i) => i) : Object.keys(v);
  const summary = isArr ? `[ ${keys.length} item${keys.length === 1 ? '' : 's'} ]` : `{ ${keys.length} key${keys.length === 1 ? '' : 's'} }`;
  if (!keys.length) return el('code', { class: 'v' }, isArr ? '[]' : '{}');
  const details = el('details', { class: 'tree' });
  details.open = depth < 2;
  details.append(el('summary', {}, summary));
  const list = el('ul');
  for (const k of keys.slice(0, TREE_CHILDREN)) {
    const item = el('li', {}, el('span', { class: 'k' }, String(k)), ': ');
    const child = v[k];
    item.append(child !== null && typeof child === 'object' ? renderTree(child, depth + 1) : scalar(child));
    list.append(item);
  }
  if (keys.length > TREE_CHILDREN) list.append(el('li', { class: 'muted' }, `… ${keys.length - TREE_CHILDREN} more`));
  details.append(list);
  return details;
}
