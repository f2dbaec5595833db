// Per-cell output from run events, shared by the notebook and the run page.
// Everything that comes from a run (lines, results, names) is put in the page
// as textContent, never as HTML.
import { renderAnsi } from './ansi.js';
import { drawChart } from './chart.js';
import { el, fmtDuration } from './dom.js';

// A long output keeps its first HEAD_LINES lines, a row counting the lines
// not shown, and its last TAIL_LINES lines, as the server renders it after a
// reload (views.HeadLines, views.DefaultMaxLines: the server writes its
// numbers on the lines' element as data-head and data-tail).
const HEAD_LINES = 1000;
const TAIL_LINES = 1000;
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
 * A windowed list of output lines: the head and the tail of a cell's lines
 * live in arrays, with a gap row between them counting the lines not kept;
 * only the rows in view are in the DOM. Rows have one fixed height (lines
 * do not wrap).
 */
export class LineList {
  constructor(box, { logUrl } = {}) {
    this.box = box; // the scrolling element
    this.logUrl = logUrl; // () => URL of the whole log, or null
    this.maxHead = Number(box.dataset.head) || HEAD_LINES;
    this.maxTail = Number(box.dataset.tail) || TAIL_LINES;
    this.box.classList.add('vlist');
    this.box.replaceChildren();
    this.spacer = el('div', { class: 'vlist-spacer' });
    this.rows = el('div', { class: 'vlist-rows' });
    this.spacer.append(this.rows);
    this.box.append(this.spacer);
    this.clearLines();
    this.rowH = 0;
    this.follow = true;
    this.box.addEventListener('scroll', () => {
      const b = this.box;
      this.follow = b.scrollTop + b.clientHeight >= b.scrollHeight - 4;
      schedule(this);
    }, { passive: true });
  }

  clearLines() {
    // Lines are strings, or detached server-rendered row elements; err
    // holds 1 where the line is stderr.
    this.head = [];
    this.headErr = [];
    this.tail = [];
    this.tailErr = [];
    this.omitted = 0; // lines between head and tail that are not kept
    this.gap = false; // the head is closed: later lines go to the tail
  }

  /** How many rows the list shows (the gap row included). */
  get length() {
    return this.head.length + (this.omitted > 0 ? 1 : 0) + this.tail.length;
  }

  /** How many lines the cell wrote, shown or not. */
  get total() {
    return this.head.length + this.omitted + this.tail.length;
  }

  /** Adds lines: to the head until it is full, then to the rolling tail. */
  push(lines, stderr) {
    for (const line of lines) {
      if (!this.gap && this.head.length < this.maxHead) {
        this.head.push(line);
        this.headErr.push(stderr ? 1 : 0);
        continue;
      }
      this.gap = true;
      this.tail.push(line);
      this.tailErr.push(stderr ? 1 : 0);
    }
    this.trim();
    schedule(this);
  }

  /** Counts n lines that never reached the page; the tail starts again after them. */
  skip(n) {
    if (n <= 0) return;
    this.gap = true;
    this.omitted += this.tail.length + n;
    this.tail = [];
    this.tailErr = [];
    schedule(this);
  }

  trim() {
    const cut = this.tail.length - this.maxTail;
    if (cut <= 0) return;
    this.tail.splice(0, cut);
    this.tailErr.splice(0, cut);
    this.omitted += cut;
  }

  /** Takes over server-rendered rows: head rows, a gap row, tail rows. */
  adopt(rows) {
    for (const r of rows) {
      if (r.classList.contains('ln-gap')) {
        this.gap = true;
        this.omitted += Number(r.dataset.gap) || 0;
        continue;
      }
      const err = r.classList.contains('ln-err');
      if (this.gap) {
        this.tail.push(r);
        this.tailErr.push(err ? 1 : 0);
      } else {
        this.head.push(r);
        this.headErr.push(err ? 1 : 0);
      }
    }
    this.trim();
    schedule(this);
  }

  clear() {
    this.clearLines();
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
    const n = this.length;
    // What the list holds, for tests and the curious: lines kept, lines not shown.
    this.box.dataset.rows = String(this.head.length + this.tail.length);
    this.box.dataset.omitted = String(this.omitted);
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
    let line;
    let err;
    if (i < this.head.length) {
      line = this.head[i];
      err = this.headErr[i];
    } else if (this.omitted > 0 && i === this.head.length) {
      return this.gapRow();
    } else {
      const j = i - this.head.length - (this.omitted > 0 ? 1 : 0);
      line = this.tail[j];
      err = this.tailErr[j];
    }
    if (typeof line !== 'string') return line.cloneNode(true);
    const div = el('div', { class: err ? 'ln ln-err' : 'ln' });
    renderAnsi(div, line); // cuts a long line (ansi.js)
    return div;
  }

  /** The row standing for the lines not kept (views' gapLine). */
  gapRow() {
    const n = this.omitted;
    const row = el('div', { class: 'ln ln-gap', 'data-gap': String(n) }, n === 1 ? '1 line not shown' : `${n} lines not shown`);
    const url = this.logUrl && this.logUrl();
    if (url) row.append(' — ', el('a', { href: url, download: '' }, 'download the whole log'));
    return row;
  }
}

/** Human words for statuses, for people who do not read code. */
export const STATUS_WORDS = {
  queued: 'Waiting to start',
  pending: 'Waiting',
  running: 'Running',
  waiting: 'Waiting for a decision',
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
    // Server-rendered rows become the list's lines, kept as elements.
    const rows = [...this.linesEl.querySelectorAll('.ln')];
    this.list = new LineList(this.linesEl, { logUrl: () => this.logUrl && this.logUrl(this.name) });
    this.list.adopt(rows);
    this.showLogLink();
    // The chart of a result the server rendered (views' chartSource).
    if (this.chartEl.dataset.chart) {
      try {
        drawChart(this.chartEl, JSON.parse(this.chartEl.dataset.chart), this.kind);
      } catch {
        this.chartEl.hidden = true;
      }
    }
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
    // A result that is a series is also drawn as a chart (chart.js), on
    // every page that shows a cell's output.
    this.chartEl = this.out.querySelector('[data-chart]');
    if (!this.chartEl) {
      this.chartEl = el('div', { class: 'chart', 'data-chart': '', hidden: '' });
      this.resultEl.after(this.chartEl);
    }
  }

  reset() {
    this.list.clear();
    this.showLogLink();
    this.noteEl.replaceChildren();
    this.noteEl.hidden = true;
    this.resultEl.replaceChildren();
    drawChart(this.chartEl, null);
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
        this.showLogLink();
        break;
      case 'approval.requested':
        this.setStatus('waiting');
        break;
      case 'cell.log':
        this.list.push(ev.lines || [], ev.stream === 'stderr');
        this.showLogLink();
        break;
      case 'cell.finished':
        this.setStatus(ev.status, { attempts: ev.attempts, durationMs: ev.duration_ms });
        this.errorEl.hidden = !ev.error;
        this.errorEl.textContent = ev.error || '';
        this.resultEl.replaceChildren();
        if (ev.result !== undefined && ev.result !== null) this.resultEl.append(renderResult(ev.result, this.kind, ev.status));
        drawChart(this.chartEl, ev.result, this.kind);
        break;
    }
  }

  /** n lines were dropped for this slow page: the gap row counts them. */
  missed(n) {
    this.list.skip(n);
  }

  /**
   * Once a cell has output, a link to its whole log is offered (the page
   * keeps only its head and tail); the server may have rendered it.
   */
  showLogLink() {
    const has = this.list.total > 0;
    let link = this.section.querySelector('[data-log-link]');
    const url = has && this.logUrl && this.logUrl(this.name);
    if (!link) {
      if (!url) return;
      link = el('a', { class: 'small out-log', 'data-log-link': '', download: '' }, 'full log');
      ((this.section.classList.contains('run-cell') && this.section.querySelector('.cell-head')) || this.out).append(link);
    }
    link.hidden = !url;
    if (url) link.href = url;
  }
}

// ---- results ----

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Renders what a cell gives later cells, according to its kind. */
// status is the cell's end: an http answer's chip is green when the cell
// took it (a cell fails on an answer it does not accept, so a 404 its
// expect_status lists is green), and by its code when the end is not known.
export function renderResult(result, kind, status) {
  const box = el('div', { class: 'result' });
  if (!isPlainObject(result)) {
    box.append(renderValue(result));
    return box;
  }
  switch (kind) {
    case 'sql':
      if (Array.isArray(result.columns) && Array.isArray(result.rows)) {
        // The cell's log says how many rows: the table says only that it was cut.
        if (result.columns.length) box.append(renderTable(result.columns, result.rows, false));
        if (result.affected) box.append(el('p', { class: 'muted' }, `${result.affected} rows affected`));
        return box;
      }
      break;
    case 'http':
      if ('status' in result) {
        const accepted = status === 'succeeded' || (status !== 'failed' && result.status < 400);
        const cls = accepted ? 'chip chip-succeeded' : 'chip chip-failed';
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
        // "=" reads before one value, not above a table or a tree (as the
        // server renders it, views/result.go).
        const v = result.value;
        if (v !== null && typeof v === 'object') box.append(renderValue(v));
        else box.append(el('p', {}, el('span', { class: 'muted' }, '= '), renderValue(v)));
        return box;
      }
      break;
    case 'shell':
    case 'python':
      if ('exit_code' in result) {
        // A non-zero exit is said once, by the cell's error ("exit status 3").
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

export function renderTable(columns, rows, counted = true) {
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
  const note = rows.length > TABLE_ROWS ? `showing ${TABLE_ROWS} of ${rows.length} rows` : counted ? `${rows.length} row${rows.length === 1 ? '' : 's'}` : '';
  if (note) wrap.append(el('p', { class: 'muted' }, note));
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
