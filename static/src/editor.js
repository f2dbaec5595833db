// CodeMirror 6 set up for a cell: its language, a theme drawn from the page's
// CSS variables (so it follows light and dark), read-only for viewers.
import { basicSetup } from 'codemirror';
import { Compartment, EditorState, Prec, Transaction } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { HighlightStyle, StreamLanguage, syntaxHighlighting } from '@codemirror/language';
import { tags as t } from '@lezer/highlight';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { python } from '@codemirror/lang-python';
import { sql, SQLite } from '@codemirror/lang-sql';

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

/**
 * Creates an editor in parent. hooks: onChange(text) for local edits,
 * onEdge(dir) when the cursor leaves the first (-1) or last (+1) line,
 * onFocus/onBlur.
 */
export function createEditor(parent, { doc, kind, readOnly, hooks }) {
  const lang = new Compartment();
  const ro = new Compartment();
  const dark = new Compartment();
  const edge = (dir) => (view) => {
    const sel = view.state.selection.main;
    if (!sel.empty) return false;
    const line = view.state.doc.lineAt(sel.head);
    if (dir < 0 ? line.number !== 1 : line.number !== view.state.doc.lines) return false;
    return hooks.onEdge(dir);
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        Prec.high(keymap.of([
          { key: 'ArrowUp', run: edge(-1) },
          { key: 'ArrowDown', run: edge(1) },
        ])),
        basicSetup,
        syntaxHighlighting(highlight),
        theme,
        dark.of(darkFlag()),
        lang.of(languageFor(kind)),
        ro.of(EditorState.readOnly.of(readOnly)),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': `${kind} source` }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged && !u.transactions.some((tr) => tr.annotation(Transaction.remote))) {
            hooks.onChange(u.state.doc.toString());
          }
          if (u.focusChanged) (u.view.hasFocus ? hooks.onFocus : hooks.onBlur)();
        }),
      ],
    }),
  });
  const onScheme = () => view.dispatch({ effects: dark.reconfigure(darkFlag()) });
  darkQuery?.addEventListener?.('change', onScheme);
  return {
    view,
    get text() {
      return view.state.doc.toString();
    },
    /** Replaces the text with someone else's, changing only what differs. */
    setText(text) {
      const old = view.state.doc.toString();
      if (old === text) return;
      let from = 0;
      while (from < old.length && from < text.length && old[from] === text[from]) from++;
      let a = old.length;
      let b = text.length;
      while (a > from && b > from && old[a - 1] === text[b - 1]) {
        a--;
        b--;
      }
      view.dispatch({ changes: { from, to: a, insert: text.slice(from, b) }, annotations: Transaction.remote.of(true) });
    },
    setKind(k) {
      view.dispatch({ effects: lang.reconfigure(languageFor(k)) });
    },
    setReadOnly(on) {
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
