// Help for people writing a notebook: the keyboard shortcuts (the `?` key),
// the "+" under each cell that inserts a cell of a chosen kind there, and
// the hint an empty cell shows for its kind.
import { el } from './dom.js';

/** What an empty cell of each kind shows until something is typed. */
export const HINTS = {
  shell: 'A bash script, e.g. echo "Hello {{ inputs.name }}". Hand values to later cells with: echo "key=value" >> "$OPSBOOK_OUTPUT"',
  python: 'A python3 script, e.g. print({{ inputs.name }}). A placeholder is a Python value: write it outside quotes',
  http: 'One request: GET https://api.example.com/items/{{ inputs.id }}, then headers (Accept: application/json), a blank line, a body',
  sql: 'SQL on the scratch database (or a connection), e.g. SELECT * FROM t WHERE id = {{ inputs.id }}. A placeholder is a bound value',
  expr: 'One expression, e.g. len(cells.fetch.body.items) > 0. Later cells read its value as cells.NAME.value',
  markdown: 'A note for the people reading. Values fill in when the run reaches it: {{ cells.NAME.stdout }}',
  approval: 'The message the deciders read, in markdown, e.g. Deploy {{ inputs.version }}? The run waits here until they approve or reject',
};

/**
 * The notebook's shortcuts, as notebook.js and editor.js implement them
 * (editor ones are CodeMirror's basicSetup). Each is [keys, what].
 */
export const SHORTCUTS = [
  ['Ctrl/⌘ + Enter', 'Run all cells'],
  ['Shift + Enter', 'Run the cell you are in (in a note: show it rendered)'],
  ['Ctrl/⌘ + S', 'Save a numbered version'],
  ['Alt + ↑ / Alt + ↓', 'Go to the cell above / below'],
  ['↑ on the first line, ↓ on the last', 'Go on into the cell above / below'],
  ['Ctrl/⌘ + Z, Ctrl/⌘ + Shift + Z', 'Undo, redo (in a cell)'],
  ['Ctrl/⌘ + F', 'Find and replace in a cell'],
  ['Ctrl/⌘ + /', 'Comment or uncomment the line'],
  ['?', 'This list (when not typing)'],
  ['Esc', 'Close a dialog'],
];

/** typing reports whether a key pressed at target goes into text. */
export function typing(target) {
  if (!target || !target.closest) return false;
  return !!target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"], .cm-editor');
}

/** Opens the keyboard help as a dialog (#shortcuts-dialog). */
export function showShortcuts() {
  document.getElementById('shortcuts-dialog')?.remove();
  const dlg = el('dialog', { id: 'shortcuts-dialog', 'aria-labelledby': 'shortcuts-title' },
    el('h2', { id: 'shortcuts-title' }, 'Keyboard shortcuts'),
    el('table', { class: 'shortcuts' },
      el('tbody', {}, ...SHORTCUTS.map(([keys, what]) => el('tr', {}, el('th', { scope: 'row' }, el('kbd', {}, keys)), el('td', {}, what))))),
    el('p', { class: 'muted small' }, 'How to write each kind of cell: ', el('a', { href: '/guide/cells' }, 'the guide to writing cells'), '.'),
    el('div', { class: 'actions' }, el('button', { type: 'button', class: 'btn btn-primary', onclick: () => dlg.close() }, 'Close')));
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

/** Adds the "+" below a cell's section: insert a cell of one of kinds after it. */
export function addInserter(section, kinds) {
  if (section.querySelector(':scope > [data-insert]')) return;
  section.append(el('div', { class: 'cell-insert', 'data-insert': '' },
    el('button', { type: 'button', class: 'btn btn-small cell-insert-btn', 'data-action': 'insert-menu', 'aria-expanded': 'false', title: 'Insert a cell below this one', 'aria-label': 'Insert a cell below' }, '+'),
    el('span', { class: 'cell-insert-kinds', 'data-insert-kinds': '', hidden: true },
      el('span', { class: 'muted small' }, 'Insert:'),
      ...kinds.map((k) => el('button', { type: 'button', class: 'btn btn-small', 'data-action': 'insert-cell', 'data-kind': k }, k)))));
}

/** Shows or hides the kinds of a "+" (one menu open at a time). */
export function toggleInserter(btn) {
  const menu = btn.parentElement.querySelector('[data-insert-kinds]');
  const open = menu.hidden;
  document.querySelectorAll('[data-insert-kinds]').forEach((m) => {
    m.hidden = true;
    m.parentElement.querySelector('[data-action="insert-menu"]')?.setAttribute('aria-expanded', 'false');
  });
  menu.hidden = !open;
  btn.setAttribute('aria-expanded', String(open));
  if (open) menu.querySelector('[data-kind]')?.focus();
}
