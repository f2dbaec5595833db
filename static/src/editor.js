// CodeMirror 6 set up for a cell: its language, a theme drawn from the page's
// CSS variables (so it follows light and dark), read-only for viewers.
import { basicSetup } from 'codemirror';
import { ChangeSet, Compartment, EditorState, Prec, StateEffect, StateField, Transaction } from '@codemirror/state';
import { Decoration, EditorView, WidgetType, keymap, placeholder } from '@codemirror/view';
import { collab, getClientID, getSyncedVersion, receiveUpdates, sendableUpdates } from '@codemirror/collab';
import { HighlightStyle, StreamLanguage, syntaxHighlighting } from '@codemirror/language';
import { tags as t } from '@lezer/highlight';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { python } from '@codemirror/lang-python';
import { sql, SQLite } from '@codemirror/lang-sql';
import { HINTS } from './cellhelp.js';

// The .http request format: a request line, headers, a blank line, a body.
const httpMode = {
  name: 'http',
  startState: () => ({ part: 'request' }),
  token(stream, st) {
    if (stream.sol() && st.part !== 'body' && stream.match(/^\s*$/)) {
      if (st.part === 'headers') st.part = 'body';
      stream.skipToEnd();
      return null;
    }
    if (stream.match('{{')) {
      stream.skipTo('}}') ? stream.match('}}') : stream.skipToEnd();
      return 'meta';
    }
    if (stream.sol() && stream.match(/^#.*/)) return 'comment';
    if (st.part === 'request') {
      if (stream.sol() && stream.match(/^[A-Z]+(?=\s)/)) return 'keyword';
      if (stream.match(/^HTTP\/[\d.]+/)) return 'keyword';
      stream.next();
      if (stream.eol()) st.part = 'headers';
      return 'string';
    }
    if (st.part === 'headers') {
      if (stream.sol() && stream.match(/^[^:\s]+(?=:)/)) return 'attributeName';
      stream.skipToEnd();
      return 'string';
    }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return 'string';
    if (stream.match(/^-?\d+(\.\d+)?([eE][+-]?\d+)?/)) return 'number';
    if (stream.match(/^(true|false|null)\b/)) return 'atom';
    stream.next();
    return null;
  },
};

const languages = {
  shell: () => StreamLanguage.define(shell),
  python: () => python(),
  sql: () => sql({ dialect: SQLite }),
  http: () => StreamLanguage.define(httpMode),
};

export function languageFor(kind) {
  const make = languages[kind];
  return make ? make() : [];
}

const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.operatorKeyword, t.definitionKeyword, t.moduleKeyword], color: 'var(--syn-keyword)' },
  { tag: [t.string, t.special(t.string), t.regexp], color: 'var(--syn-string)' },
  { tag: [t.number, t.bool, t.atom, t.null], color: 'var(--syn-number)' },
  { tag: [t.comment, t.lineComment, t.blockComment], color: 'var(--syn-comment)', fontStyle: 'italic' },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: 'var(--syn-function)' },
  { tag: [t.definition(t.variableName), t.className, t.typeName], color: 'var(--syn-def)' },
  { tag: [t.propertyName, t.attributeName], color: 'var(--syn-property)' },
  { tag: [t.meta, t.processingInstruction], color: 'var(--syn-meta)' },
  { tag: t.invalid, color: 'var(--danger)' },
]);

const theme = EditorView.theme({
  '&': { color: 'var(--text)', backgroundColor: 'var(--code-bg)', fontSize: 'var(--fs-code)' },
  '.cm-content': { fontFamily: 'var(--font-mono)', caretColor: 'var(--text)' },
  '.cm-scroller': { fontFamily: 'var(--font-mono)', lineHeight: '1.5' },
  '.cm-gutters': { backgroundColor: 'var(--code-bg)', color: 'var(--muted)', border: 'none' },
  '.cm-activeLine, .cm-activeLineGutter': { backgroundColor: 'var(--active-line)' },
  '&.cm-focused': { outline: 'none' },
  '.cm-cursor': { borderLeftColor: 'var(--text)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': { backgroundColor: 'var(--selection) !important' },
  '.cm-tooltip': { backgroundColor: 'var(--surface)', color: 'var(--text)', border: '1px solid var(--border)' },
});

const darkQuery = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
const darkFlag = () => EditorView.theme({}, { dark: !!(darkQuery && darkQuery.matches) });

// ---- other people's cursors and selections (presence) ----

const setPeers = StateEffect.define();

class CaretWidget extends WidgetType {
  constructor(color, name) {
    super();
    this.color = color;
    this.name = name;
  }
  eq(o) {
    return o.color === this.color && o.name === this.name;
  }
  toDOM() {
    const span = document.createElement('span');
    span.className = 'cm-peer-caret';
    span.style.borderLeftColor = this.color;
    const label = document.createElement('span');
    label.className = 'cm-peer-label';
    label.style.backgroundColor = this.color;
    label.textContent = this.name;
    span.append(label);
    return span;
  }
  ignoreEvent() {
    return true;
  }
}

const peersField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setPeers)) continue;
      const len = tr.state.doc.length;
      const ranges = [];
      for (const p of e.value) {
        const a = Math.min(Math.max(0, p.anchor | 0), len);
        const h = Math.min(Math.max(0, p.head | 0), len);
        if (a !== h) ranges.push(Decoration.mark({ attributes: { style: `background-color: ${p.color}33` }, class: 'cm-peer-sel' }).range(Math.min(a, h), Math.max(a, h)));
        ranges.push(Decoration.widget({ widget: new CaretWidget(p.color, p.name), side: 1 }).range(h));
      }
      deco = Decoration.set(ranges, true);
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

const peerTheme = EditorView.baseTheme({
  '.cm-peer-caret': { position: 'relative', borderLeft: '2px solid', marginLeft: '-1px', marginRight: '-1px' },
  '.cm-peer-label': { position: 'absolute', top: '-1.3em', left: '-2px', fontSize: '10px', lineHeight: '1.2', color: '#fff', padding: '0 3px', borderRadius: '3px', whiteSpace: 'nowrap', pointerEvents: 'none', opacity: '0.85' },
});

// ---- a line the server refused (a secret's value in the code) ----

const markLineEffect = StateEffect.define();

const markedLine = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    // The person's own edit clears the mark; others' edits move it.
    deco = tr.docChanged && !tr.annotation(Transaction.remote) ? Decoration.none : deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(markLineEffect)) continue;
      const n = e.value.line;
      deco = n >= 1 && n <= tr.state.doc.lines
        ? Decoration.set([Decoration.line({ class: 'cm-marked-line', attributes: { title: e.value.title } }).range(tr.state.doc.line(n).from)])
        : Decoration.none;
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

// ---- problems the server found (the linter: docs/PROTOCOL.md, check) ----

const setProblems = StateEffect.define();

// problemDecorations marks each problem's line and its spot: the word
// there, or one character. line and col count from 1, col in characters.
function problemDecorations(doc, problems) {
  const ranges = [];
  for (const p of problems) {
    if (!(p.line >= 1 && p.line <= doc.lines)) continue;
    const line = doc.line(p.line);
    let from = line.from;
    let n = 1;
    for (const ch of line.text) {
      if (n >= p.col) break;
      from += ch.length;
      n++;
    }
    const rest = doc.sliceString(from, line.to);
    const close = rest.startsWith('{{') ? rest.indexOf('}}') : -1;
    const word = /^[\w.$]+/.exec(rest);
    const to = from + (close > 0 ? close + 2 : word ? word[0].length : Math.min(1, rest.length));
    ranges.push(Decoration.line({ class: 'cm-problem-line', attributes: { title: p.message } }).range(line.from));
    if (to > from) ranges.push(Decoration.mark({ class: 'cm-problem', attributes: { title: p.message, 'data-problem-at': `${p.line}:${p.col}` } }).range(from, to));
  }
  return Decoration.set(ranges, true);
}

const problemsField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) if (e.is(setProblems)) deco = problemDecorations(tr.state.doc, e.value);
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

/** MAX_SOURCE is the largest cell text, in bytes of UTF-8 (as the server counts). */
export const MAX_SOURCE = 1 << 20;

// utf8Bytes counts a document's UTF-8 bytes without encoding it.
function utf8Bytes(doc) {
  let n = 0;
  for (const it = doc.iter(); !it.next().done;) {
    const s = it.value;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; }
      else n += 3;
    }
  }
  return n;
}

/**
 * Creates an editor in parent, joined to the cell's shared document at
 * version (the @codemirror/collab model; docs/PROTOCOL.md). hooks:
 * onChange() for local edits, onSelect(sel) when the selection moves,
 * onEdge(dir) when the cursor leaves the first (-1) or last (+1) line,
 * onFocus/onBlur.
 */
export function createEditor(parent, { doc, version = 0, clientID, kind, readOnly, hooks }) {
  const lang = new Compartment();
  const ro = new Compartment();
  const dark = new Compartment();
  const hint = new Compartment(); // what an empty cell of its kind shows
  const id = clientID || Math.floor(Math.random() * 0xffffffff).toString(36) + Date.now().toString(36);
  const edge = (dir) => (view) => {
    const sel = view.state.selection.main;
    if (!sel.empty) return false;
    const line = view.state.doc.lineAt(sel.head);
    if (dir < 0 ? line.number !== 1 : line.number !== view.state.doc.lines) return false;
    return hooks.onEdge(dir);
  };
  let kindNow = kind;
  let roNow = readOnly;
  const makeState = (text, v) => EditorState.create({
    doc: text,
    extensions: [
      // Line breaks stay as they are ("\r\n" is two characters), so every
      // editor and the server count the same lengths.
      EditorState.lineSeparator.of('\n'),
      // A cell's text is limited to 1 MiB of UTF-8, as the server is: an
      // edit past it is refused here, with a message, and never sent.
      EditorState.transactionFilter.of((tr) => {
        if (!tr.docChanged || tr.annotation(Transaction.remote)) return tr;
        const n = tr.newDoc.length;
        if (n * 3 <= MAX_SOURCE || utf8Bytes(tr.newDoc) <= MAX_SOURCE) return tr;
        hooks.onTooLarge?.();
        return [];
      }),
      collab({ startVersion: v, clientID: id }),
      peersField,
      peerTheme,
      markedLine,
      problemsField,
      Prec.high(keymap.of([
        { key: 'ArrowUp', run: edge(-1) },
        { key: 'ArrowDown', run: edge(1) },
      ])),
      basicSetup,
      syntaxHighlighting(highlight),
      theme,
      dark.of(darkFlag()),
      lang.of(languageFor(kindNow)),
      hint.of(placeholder(HINTS[kindNow] || '')),
      ro.of(EditorState.readOnly.of(roNow)),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ 'aria-label': `${kind} source` }),
      EditorView.updateListener.of((u) => {
        const remote = u.transactions.some((tr) => tr.annotation(Transaction.remote));
        if (u.docChanged && !remote) hooks.onChange();
        if ((u.selectionSet || u.docChanged) && u.view.hasFocus) hooks.onSelect?.(u.state.selection.main);
        if (u.focusChanged) (u.view.hasFocus ? hooks.onFocus : hooks.onBlur)();
      }),
    ],
  });
  const view = new EditorView({ parent, state: makeState(doc, version) });
  const onScheme = () => view.dispatch({ effects: dark.reconfigure(darkFlag()) });
  darkQuery?.addEventListener?.('change', onScheme);
  return {
    view,
    get text() {
      return view.state.doc.toString();
    },
    get clientID() {
      return getClientID(view.state);
    },
    /** The version up to which the server has confirmed this editor's text. */
    get version() {
      return getSyncedVersion(view.state);
    },
    /** Local changes the server has not confirmed yet. */
    sendable() {
      return sendableUpdates(view.state);
    },
    /** Applies the server's updates (JSON) that start at this.version. */
    receive(updates) {
      const ups = updates.map((u) => ({ changes: ChangeSet.fromJSON(u.changes), clientID: u.clientID }));
      view.dispatch(receiveUpdates(view.state, ups));
    },
    /** Starts over from the server's text at version (local changes lost). */
    reset(text, v) {
      const sel = view.state.selection.main.head;
      view.setState(makeState(text, v));
      if (view.hasFocus) view.dispatch({ selection: { anchor: Math.min(sel, text.length) } });
    },
    /** Marks line n (from 1) until the person edits, and shows it. */
    markLine(n, title) {
      if (n < 1 || n > view.state.doc.lines) return;
      view.dispatch({ effects: [markLineEffect.of({ line: n, title }), EditorView.scrollIntoView(view.state.doc.line(n).from, { y: 'center' })] });
    },
    /** Marks the problems of the cell's text: [{line, col, message}] (line and col from 1). */
    setProblems(problems) {
      view.dispatch({ effects: setProblems.of(problems) });
    },
    /** Other people's cursors: [{anchor, head, color, name}]. */
    setPeers(peers) {
      view.dispatch({ effects: setPeers.of(peers) });
    },
    get selection() {
      const m = view.state.selection.main;
      return { anchor: m.anchor, head: m.head };
    },
    setKind(k) {
      kindNow = k;
      view.dispatch({ effects: [lang.reconfigure(languageFor(k)), hint.reconfigure(placeholder(HINTS[k] || ''))] });
    },
    setReadOnly(on) {
      roNow = on;
      view.dispatch({ effects: ro.reconfigure(EditorState.readOnly.of(on)) });
    },
    focus(atEnd) {
      view.focus();
      const pos = atEnd ? view.state.doc.length : 0;
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    },
    destroy() {
      darkQuery?.removeEventListener?.('change', onScheme);
      view.destroy();
    },
  };
}
