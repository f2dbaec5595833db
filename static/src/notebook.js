// The notebook: editors in every cell, edited together in real time (the
// @codemirror/collab model: changes pushed at a version, confirmed or
// rebased), who is where, the flow's socket, live runs. The DOM hooks and
// the messages are those of docs/PROTOCOL.md.
import { createEditor } from './editor.js';
import { CellOutput, STATUS_WORDS } from './output.js';
import { connect, el, timeAgo, toast } from './dom.js';
import { Preview } from './prose.js';
import { addInserter, showShortcuts, toggleInserter, typing } from './cellhelp.js';
import { renderSchedule } from './schedule.js';

const KINDS = ['shell', 'python', 'http', 'sql', 'expr', 'markdown', 'approval'];
const INPUT_TYPES = ['string', 'number', 'boolean', 'date', 'select'];
const NOTIFY_EVENTS = ['failed', 'succeeded', 'canceled', 'waiting'];
const PRESENCE_MS = 80;
const PREVIEW_MS = 250; // a markdown preview is asked for once edits pause this long
const CHECK_MS = 400; // the draft's problems are asked for once edits pause this long
const ACTIVE = new Set(['queued', 'running', 'waiting']);

export function mountNotebook(main) {
  const nb = new Notebook(main);
  main.notebook = nb; // for browser tests and the console
  nb.start();
  return nb;
}

class Notebook {
  constructor(main) {
    this.main = main;
    this.role = main.dataset.role || 'viewer';
    // What this role may do, as the server says (it ranks roles; the page
    // does not).
    this.can = { edit: main.dataset.canEdit === 'true', run: main.dataset.canRun === 'true' };
    this.user = null;
    this.cells = new Map(); // id → cell state
    this.runs = new Map(); // id → RUNINFO
    this.currentRun = main.dataset.run || null; // the run whose output the cells show
    this.since = Number(main.dataset.since || 0); // seq of currentRun already rendered
    this.lastInputs = null;
    this.pending = new Map(); // message id → {form}
    this.nextId = 1;
    this.peers = new Map(); // client → presence
    this.draft = readDraft(main);
    this.markdownUrl = main.dataset.markdownUrl || (main.dataset.socket || '').replace(/\/ws$/, '/markdown');
    // The run banners the server rendered (the last run of this flow).
    main.querySelectorAll('[data-runs] [data-run-id]').forEach((b) => {
      this.runs.set(b.dataset.runId, { id: b.dataset.runId, status: b.dataset.status, started_by: b.dataset.startedBy, started_at: b.dataset.startedAt });
    });
  }

  get canEdit() {
    return this.can.edit;
  }

  get canRun() {
    return this.can.run;
  }

  start() {
    for (const section of this.main.querySelectorAll('section[data-cell-id]')) {
      const data = this.draft.cells.find((c) => c.id === section.dataset.cellId) || cellFromDOM(section);
      this.mountCell(section, data);
    }
    this.main.addEventListener('click', (e) => this.onClick(e));
    this.main.addEventListener('change', (e) => this.onChange(e));
    window.addEventListener('keydown', (e) => this.onKey(e), true);
    window.addEventListener('beforeunload', (e) => {
      if ([...this.cells.values()].some((c) => c.editor.sendable().length)) e.preventDefault();
    });
    this.renderFlowSettings();
    renderSchedule(this);
    this.updateToolbar();
    // Editors measured before the page's fonts arrived wrap and number
    // their lines wrongly; measure again once they are there.
    document.fonts?.ready.then(() => {
      for (const c of this.cells.values()) c.editor.view.requestMeasure();
    });
    if (!this.main.dataset.socket) return;
    const conn = this.main.querySelector('[data-conn]');
    const words = { connecting: 'connecting…', open: 'live', closed: 'offline — reconnecting', done: 'offline' };
    // The socket replays the run the cells show from what they show
    // (run, since): that run may have ended, and left the server's list
    // of active runs, between this page's render and the socket (or
    // while the socket was down), and its end would be lost otherwise.
    const socketUrl = () => {
      const base = this.main.dataset.socket;
      if (!this.currentRun) return base;
      const q = new URLSearchParams({ run: this.currentRun, since: String(this.since) });
      return `${base}${base.includes('?') ? '&' : '?'}${q}`;
    };
    this.socket = connect(socketUrl, {
      onMessage: (m) => this.onMessage(m),
      onState: (s) => {
        if (s !== 'open') {
          // In flight when the connection went: pushed again after hello.
          for (const c of this.cells.values()) c.inflight = c.pulling = false;
          this.peers.clear();
          this.renderPresence();
        }
        if (!conn) return;
        conn.dataset.conn = s;
        conn.textContent = words[s] || s;
      },
    });
  }

  send(msg, form) {
    msg.id = String(this.nextId++);
    if (form) this.pending.set(msg.id, { form });
    if (!this.socket || !this.socket.send(msg)) {
      this.pending.delete(msg.id);
      toast('Not connected: the change was not sent. It will be retried when the connection is back if it is text.', 'error');
      return false;
    }
    return true;
  }

  // ---- cells ----

  // rendered: the section's markdown box already shows data.source rendered.
  mountCell(section, data, rendered = true) {
    const host = section.querySelector('[data-editor]');
    const textarea = host.querySelector('textarea');
    const kind = section.dataset.kind;
    const c = {
      id: section.dataset.cellId,
      section,
      data,
      inflight: false, // a push waits for its answer
      pulling: false,
      focused: false,
      deleted: false,
    };
    // The draft's JSON is exact; a textarea loses a leading newline.
    const doc = typeof data.source === 'string' ? data.source : textarea ? textarea.value : '';
    if (textarea) textarea.remove();
    c.editor = createEditor(host, {
      doc,
      version: data.version || 0,
      kind,
      readOnly: !this.canEdit,
      hooks: {
        onChange: () => {
          this.push(c);
          this.markdownFollow(c);
          this.scheduleCheck();
        },
        onSelect: () => this.sendPresence(c),
        onEdge: (dir) => this.focusNeighbour(c, dir),
        onTooLarge: () => toast(`Cell ${section.dataset.cell} would be over 1 MiB, so that change was not made. Read large data from a file or a connection instead.`, 'error'),
        onFocus: () => {
          c.focused = true;
          this.main.querySelectorAll('section.cell.is-focused').forEach((s) => s.classList.remove('is-focused'));
          section.classList.add('is-focused');
          this.sendPresence(c);
        },
        onBlur: () => {
          c.focused = false;
          if (section.dataset.kind === 'markdown') this.showMarkdown(c, true);
        },
      },
    });
    c.output = new CellOutput(section, { logUrl: (name) => this.logUrl(name) });
    c.preview = new Preview(this.markdownUrl, () => section.querySelector('[data-markdown]'), rendered ? doc : null);
    if (this.canEdit) addInserter(section, KINDS);
    if (kind === 'markdown') this.showMarkdown(c, true);
    this.cells.set(c.id, c);
    return c;
  }

  // ---- collaboration (docs/PROTOCOL.md, "Collaboration") ----

  /** Sends the cell's unconfirmed changes, one push at a time. */
  push(c) {
    if (!this.canEdit || c.inflight || c.pulling || c.deleted || !this.socket || !this.socket.open || !this.helloed) return;
    const ups = c.editor.sendable();
    if (!ups.length) return;
    const updates = ups.map((u) => ({ changes: u.changes.toJSON(), clientID: u.clientID }));
    if (this.socket.send({ t: 'collab.push', cell: c.id, version: c.editor.version, updates })) c.inflight = true;
  }

  pull(c) {
    if (c.pulling) return;
    if (this.socket && this.socket.send({ t: 'collab.pull', cell: c.id, version: c.editor.version })) c.pulling = true;
  }

  pushAll() {
    for (const c of this.cells.values()) this.push(c);
  }

  onCollab(m) {
    const c = this.cells.get(m.cell);
    if (!c) return;
    switch (m.t) {
      case 'collab.updates': {
        const v = c.editor.version;
        if (m.version > v) {
          this.pull(c); // something was missed
          return;
        }
        c.pulling = false;
        const fresh = (m.updates || []).slice(v - m.version);
        if (fresh.length) {
          c.editor.receive(fresh);
          this.markdownFollow(c);
        }
        break;
      }
      case 'collab.ack':
      case 'collab.pull-needed':
        c.inflight = false;
        if (c.editor.version < m.version) {
          this.pull(c);
          return;
        }
        break;
      case 'collab.doc':
        c.inflight = c.pulling = false;
        c.editor.reset(m.source, m.version);
        this.markdownFollow(c);
        break;
      case 'collab.error':
        // The server refused our change: start again from its text.
        toast(`Cell ${c.section.dataset.cell}: a change could not be applied (${m.message}); the cell was reloaded.`, 'error');
        c.inflight = false;
        this.socket.send({ t: 'collab.doc', cell: c.id });
        return;
      case 'collab.gone':
        c.inflight = false;
        this.markDeleted(c, m.by, m.name);
        return;
    }
    this.push(c);
  }

  // A cell someone else deleted while this page had changes in it: keep it
  // on screen and offer to restore it (never drop the changes silently).
  markDeleted(c, by, name) {
    if (c.deleted) return;
    c.deleted = true;
    c.section.dataset.deleted = 'true';
    const who = by && by !== this.user?.name ? by : 'Someone';
    const banner = el('div', { class: 'notice notice-warning cell-deleted', 'data-deleted-banner': '', role: 'alert' },
      el('span', {}, `${who} deleted this cell${name ? ` (${name})` : ''} while you were editing it. `),
      el('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-action': 'restore-cell' }, 'Restore it with my changes'),
      el('button', { type: 'button', class: 'btn btn-small', 'data-action': 'discard-cell' }, 'Discard'));
    c.section.prepend(banner);
  }

  unmarkDeleted(c) {
    c.deleted = false;
    delete c.section.dataset.deleted;
    c.section.querySelector('[data-deleted-banner]')?.remove();
  }

  removeCell(c) {
    c.preview.stop();
    c.editor.destroy();
    c.section.remove();
    this.cells.delete(c.id);
  }

  // Text that changed while its rendering shows (others' edits): the
  // preview follows once the edits pause.
  markdownFollow(c) {
    if (c.section.dataset.kind === 'markdown' && !c.focused) this.showMarkdown(c, true, PREVIEW_MS);
  }

  // ---- presence ----

  sendPresence(c) {
    if (!this.socket || !this.socket.open) return;
    clearTimeout(this.presenceTimer);
    const send = () => {
      this.presenceAt = Date.now();
      const focused = [...this.cells.values()].find((x) => x.focused);
      const cell = focused || c;
      this.socket.send({ t: 'presence', cell: cell && cell.focused ? cell.id : '', sel: cell && cell.focused ? [cell.editor.selection] : null });
    };
    const wait = PRESENCE_MS - (Date.now() - (this.presenceAt || 0));
    if (wait <= 0) send();
    else this.presenceTimer = setTimeout(send, wait);
  }

  onPresence(m) {
    if (m.client === this.client) return;
    if (m.t === 'presence.leave') this.peers.delete(m.client);
    else this.peers.set(m.client, m);
    this.renderPresence();
  }

  renderPresence() {
    let bar = this.main.querySelector('[data-presence]');
    if (!bar) {
      bar = el('div', { class: 'presence', 'data-presence': '', 'aria-label': 'People in this flow' });
      const conn = this.main.querySelector('[data-conn]');
      if (conn) conn.after(bar);
      else this.main.prepend(bar);
    }
    const people = [...this.peers.values()];
    const chip = (p) => el('span', { class: 'avatar', title: `${p.display || p.name}`, 'data-peer': p.name, style: `background:${p.color};color:#fff;border-radius:50%;display:inline-flex;width:1.6em;height:1.6em;align-items:center;justify-content:center;font-size:.75em;margin-left:.15em` }, p.initials || '?');
    bar.replaceChildren(...people.map(chip));
    for (const c of this.cells.values()) {
      const here = people.filter((p) => p.cell === c.id);
      let box = c.section.querySelector('[data-cell-peers]');
      if (!box) {
        box = el('span', { class: 'cell-peers', 'data-cell-peers': '' });
        c.section.querySelector('.cell-head')?.append(box);
      }
      box.replaceChildren(...here.map(chip));
      c.editor.setPeers(here.filter((p) => Array.isArray(p.sel) && p.sel[0]).map((p) => ({ anchor: p.sel[0].anchor, head: p.sel[0].head, color: p.color, name: p.display || p.name })));
    }
  }

  logUrl(name) {
    return this.currentRun ? `/runs/${encodeURIComponent(this.currentRun)}/log?cell=${encodeURIComponent(name)}` : null;
  }

  // Markdown cells show their rendering until clicked. The server renders
  // it (prose.js): now, or after wait ms when more edits may follow.
  showMarkdown(c, rendered, wait = 0) {
    const md = c.section.querySelector('[data-markdown]');
    const host = c.section.querySelector('[data-editor]');
    if (!md) return;
    if (rendered) c.preview.update(c.editor.text, wait);
    md.hidden = !rendered;
    host.hidden = rendered;
    if (!rendered) c.editor.focus(true);
  }

  // Kept for the toolbar and the keyboard: everything typed goes out now.
  // Edits over the size limit never reach a document (the editor refuses
  // them), so there is nothing that cannot be sent.
  flushSources() {
    this.pushAll();
    return true;
  }

  cellByName(name) {
    for (const c of this.cells.values()) if (c.section.dataset.cell === name) return c;
    return null;
  }

  cellOf(node) {
    const section = node && node.closest && node.closest('section[data-cell-id]');
    return section ? this.cells.get(section.dataset.cellId) : null;
  }

  order() {
    return [...this.main.querySelectorAll('section[data-cell-id]')].map((s) => this.cells.get(s.dataset.cellId)).filter(Boolean);
  }

  focusNeighbour(c, dir) {
    const list = this.order();
    const next = list[list.indexOf(c) + dir];
    if (!next) return false;
    if (next.section.dataset.kind === 'markdown') this.showMarkdown(next, false);
    next.editor.focus(dir < 0);
    return true;
  }

  // ---- the draft: structure changes from the server ----

  applyDraft(draft, by) {
    this.draft = normalizeDraft(draft);
    const keep = new Set(this.draft.cells.map((c) => c.id));
    for (const [id, c] of this.cells) {
      if (keep.has(id)) continue;
      // Changes not yet confirmed: offer to restore instead of dropping them.
      if (this.canEdit && (c.editor.sendable().length || c.focused)) this.markDeleted(c, by);
      else this.removeCell(c);
    }
    let prev = this.main.querySelector('[data-cells-start]');
    for (const data of this.draft.cells) {
      let c = this.cells.get(data.id);
      if (c && c.deleted) {
        this.unmarkDeleted(c); // restored
        if (c.editor.version < (data.version || 0)) this.pull(c);
        else this.push(c);
      }
      if (!c) {
        c = this.mountCell(buildSection(data, this), data, typeof data.html === 'string');
        if (this.draft.cells.length === 1 || by === this.user?.name) this.pendingFocus = c;
      } else {
        this.updateCell(c, data);
      }
      // Move only what is out of place, so a focused editor keeps its focus.
      const want = prev ? prev.nextElementSibling : this.main.firstElementChild;
      if (want !== c.section) {
        if (prev) prev.after(c.section);
        else this.main.prepend(c.section);
      }
      prev = c.section;
    }
    this.renderFlowHeader();
    this.renderFlowSettings();
    renderSchedule(this);
    this.updateToolbar();
    if (this.pendingFocus && by === this.user?.name) {
      const c = this.pendingFocus;
      if (c.section.dataset.kind === 'markdown') this.showMarkdown(c, false);
      else c.editor.focus(false);
    }
    this.pendingFocus = null;
  }

  updateCell(c, data) {
    const s = c.section;
    c.data = data;
    if (s.dataset.cell !== data.name) {
      s.dataset.cell = data.name;
      const input = s.querySelector('[data-field="name"]');
      if (input && document.activeElement !== input) input.value = data.name;
    }
    if (s.dataset.kind !== data.kind) {
      s.dataset.kind = data.kind;
      s.querySelector('[data-editor]').dataset.lang = data.kind;
      const select = s.querySelector('[data-field="kind"]');
      if (select) select.value = data.kind;
      c.editor.setKind(data.kind);
      ensureMarkdownBox(s, data.kind);
      c.preview.stop();
      c.preview.shown = null; // a new, empty box
    }
    if (typeof data.html === 'string') {
      const md = s.querySelector('[data-markdown]');
      if (md) {
        c.preview.stop();
        md.innerHTML = data.html; // sanitized by the server (PROTOCOL.md)
        c.preview.shown = data.source;
      }
    }
    // The text follows collab.updates, not the draft: a draft is older
    // than the updates that came after it.
    if ((data.version || 0) > c.editor.version) this.pull(c);
    const panel = s.querySelector('[data-options]');
    if (panel && !panel.hidden && !panel.contains(document.activeElement)) fillOptions(panel, data);
  }

  renderFlowHeader() {
    const name = this.main.querySelector('[data-flow-name]');
    if (name) name.textContent = this.draft.name || this.main.dataset.flow;
    const desc = this.main.querySelector('[data-flow-description]');
    if (desc) desc.textContent = this.draft.description || '';
  }

  // ---- messages ----

  onMessage(m) {
    switch (m.t) {
      case 'hello':
        this.user = m.user || null;
        this.client = m.client;
        this.helloed = true;
        if (m.role && m.role !== this.role) {
          this.role = m.role;
          this.can = { edit: !!(m.can && m.can.edit), run: !!(m.can && m.can.run) };
          this.main.dataset.role = m.role;
          for (const c of this.cells.values()) c.editor.setReadOnly(!this.canEdit);
        }
        if (Array.isArray(m.paused)) this.paused = m.paused;
        if (m.draft) this.applyDraft(m.draft);
        for (const r of m.runs || []) this.runs.set(r.id, r);
        {
          const active = (m.runs || []).filter((r) => ACTIVE.has(r.status)).pop();
          if (active && active.id !== this.currentRun) this.startRun(active, false);
        }
        this.renderRuns();
        this.peers = new Map((m.peers || []).map((p) => [p.client, p]));
        this.renderPresence();
        this.scheduleCheck();
        // Back online: catch up (pull), then push what was typed offline.
        for (const c of this.cells.values()) {
          const d = this.draft.cells.find((x) => x.id === c.id);
          if (d && (d.version || 0) > c.editor.version) this.pull(c);
          else this.push(c);
        }
        break;
      case 'git':
        this.setGitChip(m.git);
        break;
      case 'triggers.paused':
        // Someone paused or resumed a trigger: the panel shows it without a reload.
        this.paused = Array.isArray(m.paused) ? m.paused : [];
        renderSchedule(this);
        break;
      case 'draft':
        this.applyDraft(m.draft, m.by);
        this.scheduleCheck();
        if (m.by && m.by !== this.user?.name) toast(`${m.by} changed the notebook`);
        break;
      case 'collab.updates':
      case 'collab.ack':
      case 'collab.pull-needed':
      case 'collab.doc':
      case 'collab.error':
      case 'collab.gone':
        this.onCollab(m);
        if (m.t === 'collab.updates' || m.t === 'collab.ack' || m.t === 'collab.doc') this.scheduleCheck();
        break;
      case 'problems':
        this.showProblems(m.problems || []);
        break;
      case 'presence':
      case 'presence.leave':
        this.onPresence(m);
        break;
      case 'missed':
        // The server dropped messages for us: make sure every cell is current.
        for (const c of this.cells.values()) this.pull(c);
        break;
      case 'run': {
        const info = m.run;
        const known = this.runs.has(info.id);
        this.runs.set(info.id, info);
        if (!known && ACTIVE.has(info.status)) this.startRun(info, true);
        this.renderRuns();
        break;
      }
      case 'event':
        this.onEvent(m.event);
        break;
      case 'ack': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (p && p.resolve) p.resolve(true);
        if (p && p.form) clearErrors(p.form);
        break;
      }
      case 'error': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (p && p.cell) {
          p.cell.sent = p.prev;
          p.cell.dirty = true;
        }
        if (p && p.resolve) p.resolve(false);
        const field = m.field && p && p.form && p.form.querySelector(`[data-error-for="${CSS.escape(m.field)}"]`);
        if (field) field.textContent = m.message;
        else toast(m.message || 'Something went wrong', 'error');
        if (m.cell && m.line) {
          // A problem in a cell's code (a run it stopped): show where.
          this.cellByName(m.cell)?.editor.markLine(m.line, m.message);
          this.scheduleCheck(0);
        }
        break;
      }
    }
  }

  // ---- problems: the draft checked as a linter (docs/PROTOCOL.md, check) ----

  // scheduleCheck asks for the draft's problems once edits pause.
  scheduleCheck(wait = CHECK_MS) {
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => this.check(), wait);
  }

  // check asks the server for the draft's problems, once the text typed
  // here is stored (the server checks what it has).
  check() {
    if (!this.socket || !this.socket.open || !this.helloed) return;
    const busy = [...this.cells.values()].some((c) => !c.deleted && (c.inflight || c.editor.sendable().length));
    if (busy) return this.scheduleCheck(); // the ack of the push asks again
    this.socket.send({ t: 'check', id: String(this.nextId++) });
  }

  // showProblems puts each problem on its cell: the spot marked in the
  // editor, the message under it.
  showProblems(problems) {
    for (const c of this.cells.values()) {
      const mine = problems.filter((p) => p.cell === c.id);
      c.lintProblems = mine.filter((p) => p.line > 0);
      c.optionProblems = mine.filter((p) => p.option);
      this.markProblems(c);
      this.showOptionProblems(c);
      let box = c.section.querySelector('[data-problems]');
      if (!mine.length) {
        box?.remove();
        continue;
      }
      if (!box) {
        box = el('ul', { class: 'cell-problems', 'data-problems': '', role: 'status' });
        c.section.querySelector('[data-editor]').after(box);
      }
      box.replaceChildren(...mine.map((p) => el('li', { 'data-line': p.line || null }, p.message)));
    }
  }

  // showOptionProblems puts the problems of a cell's options (if, env,
  // needs), which have no spot in its editor, at their field of the options
  // panel, and counts them on the Options button while the panel is shut.
  showOptionProblems(c) {
    const probs = c.optionProblems || [];
    const btn = c.section.querySelector('[data-action="options"]');
    if (btn) {
      if (probs.length) btn.dataset.optionProblems = String(probs.length);
      else delete btn.dataset.optionProblems;
    }
    const panel = c.section.querySelector('[data-options]');
    if (!panel) return;
    for (const box of panel.querySelectorAll('[data-problem-for]')) {
      const mine = probs.filter((p) => p.option === box.dataset.problemFor);
      box.replaceChildren(...mine.map((p) => el('span', { class: 'field-problem' }, p.message)));
      const control = panel.elements.namedItem(box.dataset.problemFor);
      if (control) control.setAttribute('aria-invalid', String(mine.length > 0));
    }
  }

  // runProblem marks where a cell of the run shown failed when the error
  // has a place in its source ("line 2, column 6: …", as the studio's
  // runs say), until the cell runs again.
  runProblem(ev) {
    const c = this.cellByName(ev.cell);
    if (!c || (ev.type !== 'cell.started' && ev.type !== 'cell.finished')) return;
    const at = ev.type === 'cell.finished' && ev.status === 'failed' && /^(?:if: )?line (\d+), column (\d+): /.exec(ev.error || '');
    c.runProblem = at ? { line: Number(at[1]), col: Number(at[2]), message: ev.error } : null;
    this.markProblems(c);
  }

  markProblems(c) {
    c.editor.setProblems([...(c.lintProblems || []), ...(c.runProblem ? [c.runProblem] : [])]);
  }

  // A new run of this flow: its cells show its output from now on.
  startRun(info, reset) {
    this.currentRun = info.id;
    this.since = 0;
    if (!reset) return;
    for (const name of info.cells || []) this.cellByName(name)?.output.reset();
  }

  onEvent(ev) {
    if (!ev) return;
    const info = this.runs.get(ev.run);
    if (ev.type === 'run.started' && ev.run !== this.currentRun && (!info || ACTIVE.has(info.status))) {
      const run = info || { id: ev.run, status: 'running', cells: ev.cells, started_at: ev.at };
      this.runs.set(ev.run, run);
      this.startRun({ ...run, cells: ev.cells }, true);
    }
    if (ev.type === 'run.started' && info && info.status === 'queued') {
      // The server says "queued" when the run is created; this is its start.
      info.status = 'running';
      this.renderRuns();
    }
    if (ev.type === 'run.finished' && info) {
      info.status = ev.status;
      this.renderRuns();
    }
    if (ev.run !== this.currentRun || ev.seq <= this.since) return;
    this.since = ev.seq;
    // A run's first event: its cells drop the output of an earlier run.
    // (RUNINFO may not list the cells, so startRun could not.)
    if (ev.type === 'run.started') for (const name of ev.cells || []) this.cellByName(name)?.output.reset();
    if (ev.cell) this.cellByName(ev.cell)?.output.handle(ev);
    if (ev.cell) this.runProblem(ev);
  }

  renderRuns() {
    const box = this.main.querySelector('[data-runs]');
    const runs = [...this.runs.values()].sort((a, b) => String(a.started_at).localeCompare(String(b.started_at)));
    const shown = runs.filter((r) => ACTIVE.has(r.status) || r.id === this.currentRun);
    if (box) {
      box.replaceChildren(...shown.map((r) => {
        const href = typeof r.url === 'string' && r.url.startsWith('/') ? r.url : `/runs/${encodeURIComponent(r.id)}`;
        return el('div', { class: 'run-banner', 'data-run-id': r.id, 'data-status': r.status },
          el('span', { class: 'chip chip-' + r.status }, STATUS_WORDS[r.status] || r.status),
          el('span', {}, `${r.started_by || 'someone'} started a run`),
          r.started_at ? el('span', { class: 'muted' }, timeAgo(r.started_at)) : null,
          el('a', { href }, 'open run page'),
          ACTIVE.has(r.status) && this.canRun ? el('button', { type: 'button', class: 'btn btn-small', 'data-action': 'cancel', 'data-run': r.id }, 'Cancel') : null);
      }));
    }
    this.updateToolbar();
  }

  updateToolbar() {
    const active = [...this.runs.values()].some((r) => ACTIVE.has(r.status));
    this.main.querySelectorAll('.toolbar [data-action="cancel"]').forEach((b) => (b.disabled = !active));
    this.main.querySelectorAll('[data-empty]').forEach((n) => (n.hidden = this.cells.size > 0));
  }

  // ---- actions ----

  onClick(e) {
    const md = e.target.closest('[data-markdown]');
    if (md && this.canEdit && !e.target.closest('a')) {
      const c = this.cellOf(md);
      if (c) this.showMarkdown(c, false);
      return;
    }
    const btn = e.target.closest('[data-action]');
    if (!btn || btn.disabled) return;
    const c = this.cellOf(btn);
    const name = c && c.section.dataset.cell;
    switch (btn.dataset.action) {
      case 'run-all':
        return this.requestRun('all');
      case 'run-cell':
        return this.requestRun('cell', name);
      case 'run-from':
        return this.requestRun('from', name);
      case 'cancel': {
        const id = btn.dataset.run || [...this.runs.values()].filter((r) => ACTIVE.has(r.status)).map((r) => r.id).pop();
        if (id) this.send({ t: 'cancel', run: id });
        return;
      }
      case 'save-version':
        return this.saveVersionDialog();
      case 'add-cell': {
        const focused = [...this.cells.values()].find((x) => x.focused);
        const order = this.order();
        const after = focused || order[order.length - 1];
        const kind = this.main.querySelector('[data-add-kind]')?.value || 'shell';
        this.send({ t: 'cell.add', after: after ? after.id : '', kind });
        return;
      }
      case 'insert-menu':
        toggleInserter(btn);
        return;
      case 'insert-cell':
        // A "+" under a cell: the new cell goes right after it.
        btn.closest('[data-insert-kinds]').hidden = true;
        if (c) this.send({ t: 'cell.add', after: c.id, kind: btn.dataset.kind });
        return;
      case 'restore-cell':
        if (c) this.send({ t: 'cell.restore', cell: c.id });
        return;
      case 'discard-cell':
        if (c) this.removeCell(c);
        return;
      case 'delete-cell':
        if (c && confirm(`Delete cell "${name}"?`)) this.send({ t: 'cell.delete', cell: c.id });
        return;
      case 'duplicate-cell':
        if (c) this.send({ t: 'cell.duplicate', cell: c.id });
        return;
      case 'move-up':
      case 'move-down': {
        if (!c) return;
        const to = this.order().indexOf(c) + (btn.dataset.action === 'move-up' ? -1 : 1);
        if (to >= 0 && to < this.cells.size) this.send({ t: 'cell.move', cell: c.id, to });
        return;
      }
      case 'options':
        if (c) this.toggleOptions(c, btn);
        return;
      case 'add-input':
        // The flow's inputs, or an approval cell's form: the table of
        // the form the button is in.
        btn.closest('form')?.querySelector('[data-inputs-rows]')?.append(inputRow({}));
        return;
      case 'remove-input':
      case 'remove-notify':
        btn.closest('tr')?.remove();
        return;
      case 'add-notify':
        btn.closest('form')?.querySelector('[data-notify-rows]')?.append(notifyRow({}));
        return;
    }
  }

  // Rename and change of kind from the cell header.
  onChange(e) {
    const field = e.target.dataset.field;
    if (field !== 'name' && field !== 'kind') return;
    const c = this.cellOf(e.target);
    if (!c) return;
    this.sendCellUpdate(c, { [field]: e.target.value }, c.section.querySelector('[data-options]'));
  }

  sendCellUpdate(c, change, form) {
    const d = c.data;
    const msg = {
      t: 'cell.update',
      cell: c.id,
      name: change.name ?? c.section.dataset.cell,
      kind: change.kind ?? c.section.dataset.kind,
      options: change.options ?? d.options ?? {},
    };
    this.send(msg, form);
  }

  toggleOptions(c, btn) {
    let panel = c.section.querySelector('[data-options]');
    if (!panel) {
      panel = el('form', { class: 'cell-options', 'data-options': '' });
      c.section.querySelector('[data-editor]').before(panel);
    }
    const open = panel.hidden || !panel.childElementCount;
    if (open) {
      if (!panel.childElementCount) buildOptions(panel, this.canEdit);
      fillOptions(panel, c.data);
      this.showOptionProblems(c);
      panel.onsubmit = (e) => {
        e.preventDefault();
        this.sendCellUpdate(c, { options: readOptions(panel) }, panel);
      };
    }
    panel.hidden = !open;
    btn.setAttribute('aria-expanded', String(open));
  }

  // ---- the flow's settings and inputs ----

  renderFlowSettings() {
    const form = this.main.querySelector('[data-flow-form]');
    if (!form || form.contains(document.activeElement)) return;
    const d = this.draft;
    const ro = !this.canEdit;
    form.replaceChildren(
      el('div', { class: 'grid-2' },
        field('Name', el('input', { name: 'name', value: d.name || '', readonly: ro }), 'name'),
        field('Order', el('select', { name: 'order', disabled: ro },
          el('option', { value: 'notebook', selected: d.order !== 'graph' }, 'notebook — each cell waits for the one above'),
          el('option', { value: 'graph', selected: d.order === 'graph' }, 'graph — cells wait only for what they reference')), 'order')),
      field('Description', el('textarea', { name: 'description', rows: 2, value: d.description || '', readonly: ro }), 'description'),
      el('h3', {}, 'Inputs'),
      inputsEditor(d.inputs, ro),
      el('h3', {}, 'Notifications'),
      el('p', { class: 'muted small' }, 'The workspace\'s destinations (Settings → Notifications) this flow\'s runs tell, and of what. A destination with no event ticked gets its own defaults; with no destination here, every one gets its defaults.'),
      ro ? null : destinationsHint(),
      el('div', { class: 'table-wrap' }, el('table', { class: 'inputs-table notify-table' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Destination'), ...NOTIFY_EVENTS.map((ev) => el('th', {}, ev)), el('th', {}, ''))),
        el('tbody', { 'data-notify-rows': '' }, ...d.notify.map((n) => notifyRow(n, ro))))),
      el('p', { class: 'field-error', 'data-error-for': 'notify' }),
      ro ? null : el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'btn', 'data-action': 'add-notify' }, 'Add destination')),
      ro ? null : el('div', { class: 'actions' },
        el('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply')),
    );
    form.onsubmit = (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      const notify = [...form.querySelectorAll('[data-notify-rows] tr')].map(readNotifyRow).filter((n) => n.to);
      this.send({ t: 'flow.update', name: fd.get('name'), description: fd.get('description'), order: fd.get('order'), inputs: readInputs(form), notify }, form);
    };
  }

  // barrier resolves once the server has handled every message sent
  // before it (it answers a socket's messages in order).
  // settled resolves true once every change typed here is stored (its push
  // acknowledged), or false when offline or after 10 s: a run or a version
  // must see what is on screen.
  settled() {
    return new Promise((resolve) => {
      const start = Date.now();
      const check = () => {
        this.pushAll();
        const busy = [...this.cells.values()].some((c) => !c.deleted && (c.inflight || c.editor.sendable().length));
        if (!busy) return resolve(true);
        if (!this.socket || !this.socket.open || Date.now() - start > 10000) return resolve(false);
        setTimeout(check, 10);
      };
      check();
    });
  }

  barrier() {
    return new Promise((resolve) => {
      const id = String(this.nextId++);
      this.pending.set(id, { resolve });
      if (!this.socket || !this.socket.send({ t: 'ping', id })) {
        this.pending.delete(id);
        resolve(false);
      }
      setTimeout(() => resolve(false), 5000);
    });
  }

  // saveVersionDialog asks for a message, then saves the draft as a new
  // version once the text on screen is stored.
  saveVersionDialog() {
    if (!this.canEdit) return;
    let dlg = document.getElementById('version-dialog');
    if (dlg) dlg.remove();
    const input = el('input', { name: 'message', placeholder: 'What changed, and why', autocomplete: 'off' });
    const form = el('form', { method: 'dialog', class: 'stack' },
      el('h2', {}, 'Save version'),
      field('Message', input, 'message', 'Saves the draft as a new numbered version; co-authors are everyone who edited since the last one.'),
      el('p', { class: 'field-error', 'data-error-for': 'message' }),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'btn', onclick: () => dlg.close() }, 'Cancel'),
        el('button', { type: 'submit', class: 'btn btn-primary' }, 'Save version')));
    dlg = el('dialog', { id: 'version-dialog' }, form);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!(await this.settled()) || !(await this.barrier())) {
        form.querySelector('[data-error-for="message"]').textContent = 'Not connected: your latest text is not stored yet. Try again when the notebook is live.';
        return;
      }
      const url = this.main.dataset.socket.replace(/\/ws$/, '/versions');
      let res, body;
      try {
        res = await fetch(url, { method: 'POST', headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ message: input.value }) });
        body = await res.json();
      } catch (err) {
        form.querySelector('[data-error-for="message"]').textContent = 'The server could not be reached: ' + err.message;
        return;
      }
      if (!res.ok) {
        const err = (body && body.error) || {};
        if (err.code === 'unchanged') {
          // Not a failure: the latest version already holds the draft.
          dlg.close();
          toast(`Nothing changed since v${err.number}: no new version was made.`);
          return;
        }
        form.querySelector('[data-error-for="message"]').textContent = err.message || 'Saving failed';
        // A secret's value in a cell: mark the line where it is.
        const c = err.cell && err.line && this.cellByName(err.cell);
        if (c) c.editor.markLine(err.line, err.message);
        return;
      }
      dlg.close();
      this.savedToast(body);
    });
    document.body.append(dlg);
    dlg.showModal();
    input.focus();
  }

  // savedToast says what a save did, git's part included (the answer's
  // "git": committed, conflict, error, skipped or pending), and shows the
  // flow's new git status on the chip at once.
  savedToast(body) {
    const v = `v${body.number}`;
    const g = body.git;
    if (g && g.status) this.setGitChip(g);
    if (!g) toast(`Saved ${v}. See History for changes and exports.`);
    else if (g.outcome === 'committed') toast(`Saved ${v} and pushed it to git.`);
    else if (g.outcome === 'conflict') toast(`Saved ${v} here, but not in git: the flow changed in git since the last sync (conflict). Open the git chip to compare and choose.`, 'error');
    else if (g.outcome === 'error') toast(`Saved ${v} here, but pushing it to git failed: ${g.message}`, 'error');
    else if (g.outcome === 'pending') toast(`Saved ${v}; still pushing it to git. The git chip shows how it ends.`);
    else toast(`Saved ${v}. ${g.message || ''}`);
  }

  // setGitChip shows a flow's git status ({status, label, error}) on the
  // notebook's chip: a link to the page that compares both sides for
  // editors when it is not in sync, as the server renders it.
  setGitChip(g) {
    const old = this.main.querySelector('.flow-head [data-git-status]');
    if (!old || !g.status) return;
    const cls = { in_sync: 'chip-succeeded', changed_here: 'chip-queued', changed_in_git: 'chip-running', conflict: 'chip-failed' }[g.status] || 'chip-canceled';
    const link = this.canEdit && g.status !== 'in_sync';
    const attrs = { class: 'chip ' + cls, 'data-git-status': g.status, title: 'git: ' + g.label + (g.error ? ' — ' + g.error : '') };
    if (link) attrs.href = this.main.dataset.socket.replace(/\/ws$/, '/git');
    old.replaceWith(el(link ? 'a' : 'span', attrs, g.label));
  }

  async requestRun(mode, cell) {
    if (!this.canRun) return;
    // The run must see what is on screen.
    if (!(await this.settled())) {
      toast('Not connected: your latest changes are not stored yet, so the run would not see them. Try again when the notebook is live.', 'error');
      return;
    }
    const inputs = this.draft.inputs || [];
    const msg = { t: 'run', mode };
    if (cell) msg.cell = cell;
    const missing = inputs.some((i) => i.required && (this.lastInputs?.[i.name] ?? i.default) == null);
    if (inputs.length && (mode === 'all' || !this.lastInputs || missing)) {
      this.runDialog(inputs, (values) => {
        this.lastInputs = values;
        this.send({ ...msg, inputs: values });
      });
      return;
    }
    msg.inputs = this.lastInputs || defaults(inputs);
    this.send(msg);
  }

  runDialog(inputs, done) {
    let dlg = document.getElementById('run-dialog');
    if (dlg) dlg.remove();
    const form = el('form', { method: 'dialog', class: 'stack' });
    form.append(el('h2', {}, 'Run with inputs'));
    for (const i of inputs) {
      const v = this.lastInputs?.[i.name] ?? i.default;
      let control;
      if (i.type === 'boolean') control = el('input', { type: 'checkbox', name: i.name, checked: v === true || v === 'true' });
      else if (i.type === 'select') control = el('select', { name: i.name }, ...(i.options || []).map((o) => el('option', { value: o, selected: o === v }, o)));
      else control = el('input', { type: i.type === 'number' ? 'number' : i.type === 'date' ? 'date' : 'text', name: i.name, value: v ?? '', required: !!i.required, step: i.type === 'number' ? 'any' : null, placeholder: i.placeholder || null });
      form.append(field((i.label || i.name) + (i.required ? ' *' : ''), control, i.name, i.description));
    }
    form.append(el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'btn', value: 'cancel', onclick: () => dlg.close() }, 'Cancel'),
      el('button', { type: 'submit', class: 'btn btn-primary', value: 'run' }, 'Run')));
    dlg = el('dialog', { id: 'run-dialog' }, form);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const values = {};
      for (const i of inputs) {
        const ctl = form.elements.namedItem(i.name);
        if (i.type === 'boolean') values[i.name] = ctl.checked;
        else if (i.type === 'number') values[i.name] = ctl.value === '' ? null : Number(ctl.value);
        else values[i.name] = ctl.value;
        if (values[i.name] === null || values[i.name] === '') delete values[i.name];
      }
      dlg.close();
      done(values);
    });
    document.body.append(dlg);
    dlg.showModal();
  }

  // ---- keyboard ----

  onKey(e) {
    const mod = e.ctrlKey || e.metaKey;
    if (e.target.closest && e.target.closest('dialog')) return;
    if (e.key === '?' && !mod && !e.altKey && !typing(e.target)) {
      e.preventDefault();
      showShortcuts();
    } else if (mod && e.key === 'Enter') {
      e.preventDefault();
      e.stopPropagation();
      this.requestRun('all');
    } else if (mod && (e.key === 's' || e.key === 'S') && !e.altKey) {
      // Text saves itself; Ctrl/Cmd+S saves a numbered version (editors).
      e.preventDefault();
      e.stopPropagation();
      if (this.canEdit) this.saveVersionDialog();
      else toast(`Saving a version needs the editor role; yours is ${this.role}.`);
    } else if (e.shiftKey && e.key === 'Enter' && !mod && !e.altKey) {
      const c = this.cellOf(e.target);
      if (!c || e.target.closest('[data-options], dialog')) return;
      e.preventDefault();
      e.stopPropagation();
      if (c.section.dataset.kind === 'markdown') this.showMarkdown(c, true);
      else this.requestRun('cell', c.section.dataset.cell);
    } else if (e.altKey && !mod && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      const c = this.cellOf(e.target);
      if (!c) return;
      e.preventDefault();
      e.stopPropagation();
      this.focusNeighbour(c, e.key === 'ArrowUp' ? -1 : 1);
    }
  }
}

// ---- the draft as data ----

function readDraft(main) {
  const script = document.getElementById('draft');
  let d = null;
  if (script) {
    try {
      d = JSON.parse(script.textContent);
    } catch {
      d = null;
    }
  }
  if (!d) d = { name: main.dataset.flow, cells: [...main.querySelectorAll('section[data-cell-id]')].map(cellFromDOM) };
  return normalizeDraft(d);
}

function cellFromDOM(s) {
  const ta = s.querySelector('[data-editor] textarea');
  return { id: s.dataset.cellId, name: s.dataset.cell, kind: s.dataset.kind, source: ta ? ta.value : '', options: {} };
}

// Accepts the protocol's lowercase keys and Go's default field names.
function normalizeDraft(d) {
  const pick = (o, k) => (o[k] !== undefined ? o[k] : o[k[0].toUpperCase() + k.slice(1)]);
  return {
    name: pick(d, 'name') || '',
    description: pick(d, 'description') || '',
    order: pick(d, 'order') || 'notebook',
    inputs: (pick(d, 'inputs') || []).map((i) => ({
      name: pick(i, 'name') || '',
      type: pick(i, 'type') || '', // '' (none written) is string
      default: pick(i, 'default') ?? null,
      required: !!pick(i, 'required'),
      options: pick(i, 'options') || [],
      label: pick(i, 'label') || '',
      description: pick(i, 'description') || '',
      placeholder: pick(i, 'placeholder') || '',
    })),
    triggers: pick(d, 'triggers') || [],
    notify: (pick(d, 'notify') || []).map((n) => ({ to: pick(n, 'to') || '', on: pick(n, 'on') || [] })),
    cells: (pick(d, 'cells') || []).map((c) => ({ ...c, id: pick(c, 'id'), name: pick(c, 'name'), kind: pick(c, 'kind'), source: pick(c, 'source') ?? '', options: pick(c, 'options') || {} })),
  };
}

// utf8Length is the size of s in UTF-8 without encoding it.
export function utf8Length(s) {
  if (s.length > MAX_SOURCE) return s.length; // over the limit whatever the bytes
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4; // a surrogate pair: one code point of four bytes
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function defaults(inputs) {
  const v = {};
  for (const i of inputs) if (i.default != null) v[i.name] = i.default;
  return v;
}

// ---- DOM builders (the same structure as views/notebook.templ) ----

function field(label, control, name, help) {
  return el('label', { class: 'field' },
    el('span', { class: 'field-label' }, label),
    control,
    help ? el('span', { class: 'field-help' }, help) : null,
    el('span', { class: 'field-error', 'data-error-for': name }));
}

function clearErrors(form) {
  form.querySelectorAll('[data-error-for]').forEach((n) => (n.textContent = ''));
}

function ensureMarkdownBox(section, kind) {
  let md = section.querySelector('[data-markdown]');
  if (kind === 'markdown' && !md) {
    md = el('div', { class: 'markdown', 'data-markdown': '' });
    section.querySelector('[data-editor]').after(md);
  } else if (kind !== 'markdown' && md) {
    md.remove();
    section.querySelector('[data-editor]').hidden = false;
  }
}

function buildSection(data, nb) {
  const btn = (action, text, title) => el('button', { type: 'button', class: 'btn btn-small', 'data-action': action, title }, text);
  const tools = el('span', { class: 'cell-tools' });
  if (nb.canRun && data.kind !== 'markdown') tools.append(btn('run-cell', '▶ Run', 'Run this cell (Shift+Enter)'), btn('run-from', 'Run from here', 'Run this cell and the ones below'));
  if (nb.canEdit) {
    tools.append(btn('move-up', '↑', 'Move up'), btn('move-down', '↓', 'Move down'), btn('duplicate-cell', 'Duplicate', 'Duplicate'), btn('delete-cell', 'Delete', 'Delete'));
  }
  tools.append(el('button', { type: 'button', class: 'btn btn-small', 'data-action': 'options', 'aria-expanded': 'false' }, 'Options'));
  const section = el('section', { class: 'cell', 'data-cell': data.name, 'data-cell-id': data.id, 'data-kind': data.kind, id: 'cell-' + data.id },
    el('header', { class: 'cell-head' },
      el('input', { class: 'cell-name', name: 'name', value: data.name, 'data-field': 'name', 'aria-label': 'Cell name', readonly: !nb.canEdit, spellcheck: 'false' }),
      el('select', { class: 'cell-kind', name: 'kind', 'data-field': 'kind', 'aria-label': 'Kind', disabled: !nb.canEdit },
        ...KINDS.map((k) => el('option', { value: k, selected: k === data.kind }, k))),
      tools),
    el('div', { class: 'cell-editor', 'data-editor': '', 'data-lang': data.kind }, el('textarea', { hidden: true, value: data.source || '' })),
    el('div', { class: 'cell-status', 'data-status': '' }),
    el('div', { class: 'cell-output', 'data-output': '' }));
  ensureMarkdownBox(section, data.kind);
  if (data.kind === 'markdown') {
    const md = section.querySelector('[data-markdown]');
    if (typeof data.html === 'string') md.innerHTML = data.html; // sanitized by the server
    // else mountCell has the server render it (prose.js)
  }
  return section;
}

// The options panel: a form of its own, sent as cell.update.
function buildOptions(panel, canEdit) {
  const ro = !canEdit;
  if (ro) panel.dataset.readonly = '';
  const text = (name, placeholder) => el('input', { name, placeholder, readonly: ro, spellcheck: 'false' });
  panel.append(
    el('div', { class: 'grid-3' },
      field('Timeout', text('timeout', 'e.g. 30s'), 'timeout'),
      field('Retries', el('input', { name: 'retries', type: 'number', min: 0, step: 1, readonly: ro }), 'retries'),
      field('Retry delay', text('retry_delay', 'e.g. 1s'), 'retry_delay')),
    field('Run only if', text('if', 'an expression, e.g. cells.summary.value.total > 0'), 'if'),
    el('div', { class: 'grid-3' },
      field('Needs (graph order)', text('needs', 'cell names, comma separated'), 'needs'),
      field('Connection (SQL)', text('connection', 'scratch'), 'connection'),
      field('Expected status (HTTP)', text('expect_status', '2xx; e.g. 200, 404, 4xx'), 'expect_status')),
    el('div', { class: 'grid-3' },
      field('Approvers (approval)', text('approvers', 'editor, user:ana, link'), 'approvers'),
      field('Approvals needed', el('input', { name: 'approvals', type: 'number', min: 1, max: 10, step: 1, readonly: ro }), 'approvals'),
      field('On timeout', el('select', { name: 'on_timeout', disabled: ro },
        el('option', { value: '' }, 'reject (default)'), el('option', { value: 'approve' }, 'approve')), 'on_timeout')),
    // An approval cell's form: what the deciders fill in (shown for
    // approval cells only; fillOptions fills it).
    el('fieldset', { class: 'approval-form', 'data-approval-form': '', hidden: true },
      el('legend', {}, 'Approval form — what the approvers fill in (later cells read cells.NAME.inputs)'),
      inputsEditor([], ro)),
    field('Environment', el('textarea', { name: 'env', rows: 3, placeholder: 'KEY=value, one a line', readonly: ro, spellcheck: 'false' }), 'env'),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'continue_on_error', disabled: ro }), ' Continue the run when this cell fails'),
    el('p', { class: 'field-error', 'data-error-for': 'options' }),
    ro ? null : el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply options')),
  );
  // The draft's problems in an option are shown at its field
  // (Notebook.showOptionProblems); the server names them (problems.go).
  for (const name of ['if', 'env', 'needs']) {
    panel.elements.namedItem(name)?.closest('.field')?.append(el('span', { class: 'field-error', 'data-problem-for': name, role: 'status' }));
  }
}

function durationText(v) {
  if (typeof v === 'number') {
    // Go's time.Duration marshals as nanoseconds.
    const s = v / 1e9;
    return s >= 1 && Number.isInteger(s) ? `${s}s` : `${v / 1e6}ms`;
  }
  return v || '';
}

function fillOptions(panel, data) {
  const o = data.options || {};
  const set = (name, v) => {
    const n = panel.elements.namedItem(name);
    if (n) n.value = v ?? '';
  };
  set('timeout', o.timeout ? durationText(o.timeout) : '');
  set('retries', o.retries || '');
  set('retry_delay', o.retry_delay ? durationText(o.retry_delay) : '');
  set('if', o.if || '');
  set('needs', (o.needs || []).join(', '));
  set('connection', o.connection || '');
  set('expect_status', (o.expect_status || []).join(', '));
  set('approvers', (o.approvers || []).join(', '));
  set('approvals', o.approvals || '');
  set('on_timeout', o.on_timeout === 'approve' ? 'approve' : '');
  const env = o.env || {};
  set('env', Array.isArray(env) ? env.map((e) => `${e.name ?? e.Name}=${e.value ?? e.Value}`).join('\n') : Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n'));
  panel.elements.namedItem('continue_on_error').checked = !!o.continue_on_error;
  const form = panel.querySelector('[data-approval-form]');
  if (form) {
    // Another kind keeps whatever form flow.yaml gave it (readOptions
    // leaves it out); the draft's problems say it is not for that kind.
    form.hidden = data.kind !== 'approval';
    const ro = panel.dataset.readonly !== undefined;
    form.querySelector('[data-inputs-rows]').replaceChildren(...(o.inputs || []).map((i) => inputRow(i, ro)));
  }
}

function readOptions(panel) {
  const v = (name) => panel.elements.namedItem(name).value.trim();
  const o = {};
  if (v('timeout')) o.timeout = v('timeout');
  if (v('retries')) o.retries = Number(v('retries'));
  if (v('retry_delay')) o.retry_delay = v('retry_delay');
  if (v('if')) o.if = v('if');
  const needs = v('needs').split(/[\s,]+/).filter(Boolean);
  if (needs.length) o.needs = needs;
  if (v('connection')) o.connection = v('connection');
  const expect = v('expect_status').toLowerCase().split(/[\s,]+/).filter(Boolean);
  if (expect.length) o.expect_status = expect;
  const approvers = v('approvers').split(/[\s,]+/).filter(Boolean);
  if (approvers.length) o.approvers = approvers;
  if (v('approvals')) o.approvals = Number(v('approvals'));
  if (v('on_timeout')) o.on_timeout = v('on_timeout');
  const env = {};
  for (const line of panel.elements.namedItem('env').value.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  if (Object.keys(env).length) o.env = env;
  if (panel.elements.namedItem('continue_on_error').checked) o.continue_on_error = true;
  const form = panel.querySelector('[data-approval-form]');
  if (form && !form.hidden) o.inputs = readInputs(form);
  return o;
}

// inputsEditor edits a list of inputs: the flow's, and an approval cell's
// form, which has the same keys. readInputs reads it back.
function inputsEditor(inputs, ro) {
  return el('div', { class: 'inputs-editor' },
    el('div', { class: 'table-wrap' }, el('table', { class: 'inputs-table' },
      el('thead', {}, el('tr', {}, ...['Name', 'Type', 'Default', 'Required', 'Options (for select)', 'Label', 'Description', 'Placeholder', ''].map((h) => el('th', {}, h)))),
      el('tbody', { 'data-inputs-rows': '' }, ...inputs.map((i) => inputRow(i, ro))))),
    el('p', { class: 'field-error', 'data-error-for': 'inputs' }),
    ro ? null : el('div', { class: 'actions' }, el('button', { type: 'button', class: 'btn', 'data-action': 'add-input' }, 'Add input')));
}

function readInputs(scope) {
  return [...scope.querySelectorAll('[data-inputs-rows] tr')].map(readInputRow).filter((i) => i.name);
}

// destinationsHint names the workspace's destinations (the page's
// datalist, which the destination fields also offer as a pick-list).
function destinationsHint() {
  const names = [...document.querySelectorAll('#notify-destinations option')].map((o) => o.value);
  return el('p', { class: 'muted small', 'data-notify-known': '' }, names.length
    ? `This workspace's destinations: ${names.join(', ')}.`
    : 'This workspace has no destinations yet: an owner adds them under Settings → Notifications.');
}

// notifyRow is one entry of the flow's notify: a destination and the
// events it is told of (none ticked: its defaults).
function notifyRow(n, ro = false) {
  const on = new Set(n.on || []);
  return el('tr', { 'data-notify-row': '' },
    el('td', {}, el('input', { 'data-notify': 'to', value: n.to || '', placeholder: 'ops', 'aria-label': 'Destination', list: ro ? null : 'notify-destinations', readonly: ro, spellcheck: 'false' })),
    ...NOTIFY_EVENTS.map((ev) => el('td', {}, el('input', { type: 'checkbox', 'data-notify-on': ev, checked: on.has(ev), disabled: ro, 'aria-label': `Tell of ${ev} runs` }))),
    el('td', {}, ro ? null : el('button', { type: 'button', class: 'btn btn-small', 'data-action': 'remove-notify', title: 'Remove this destination' }, '✕')));
}

function readNotifyRow(tr) {
  const n = { to: tr.querySelector('[data-notify="to"]').value.trim() };
  const on = NOTIFY_EVENTS.filter((ev) => tr.querySelector(`[data-notify-on="${ev}"]`).checked);
  if (on.length) n.on = on;
  return n;
}

function inputRow(i, ro = false) {
  const def = i.default == null ? '' : String(i.default);
  // An input written without a type stays so while its type is string.
  return el('tr', { 'data-typed': i.type ? 'true' : null },
    el('td', {}, el('input', { 'data-in': 'name', value: i.name || '', placeholder: 'day', 'aria-label': 'Input name', spellcheck: 'false', readonly: ro })),
    el('td', {}, el('select', { 'data-in': 'type', 'aria-label': 'Type', disabled: ro }, ...INPUT_TYPES.map((t) => el('option', { value: t, selected: t === (i.type || 'string') }, t)))),
    el('td', {}, el('input', { 'data-in': 'default', value: def, 'aria-label': 'Default', readonly: ro })),
    el('td', {}, el('input', { 'data-in': 'required', type: 'checkbox', checked: !!i.required, 'aria-label': 'Required', disabled: ro })),
    el('td', {}, el('input', { 'data-in': 'options', value: (i.options || []).join(', '), 'aria-label': 'Options', readonly: ro })),
    el('td', {}, el('input', { 'data-in': 'label', value: i.label || '', placeholder: i.name || '', 'aria-label': 'Label', readonly: ro })),
    el('td', {}, el('input', { 'data-in': 'description', value: i.description || '', 'aria-label': 'Description', readonly: ro })),
    el('td', {}, el('input', { 'data-in': 'placeholder', value: i.placeholder || '', 'aria-label': 'Placeholder', readonly: ro })),
    el('td', {}, ro ? null : el('button', { type: 'button', class: 'btn btn-small', 'data-action': 'remove-input', title: 'Remove this input' }, '✕')));
}

function readInputRow(tr) {
  const get = (k) => tr.querySelector(`[data-in="${k}"]`);
  const type = get('type').value;
  const raw = get('default').value;
  let def = raw === '' ? null : raw;
  if (def !== null && type === 'number' && !isNaN(Number(raw))) def = Number(raw);
  if (def !== null && type === 'boolean') def = raw === 'true';
  const input = { name: get('name').value.trim(), required: get('required').checked, description: get('description').value };
  if (type !== 'string' || tr.dataset.typed) input.type = type;
  const label = get('label').value.trim();
  if (label) input.label = label;
  const placeholder = get('placeholder').value;
  if (placeholder) input.placeholder = placeholder;
  if (def !== null) input.default = def;
  const options = get('options').value.split(',').map((s) => s.trim()).filter(Boolean);
  if (options.length) input.options = options;
  return input;
}
