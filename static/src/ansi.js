// A small ANSI SGR parser: turns one line of terminal output into DOM nodes.
// Text only ever becomes textContent; colours become classes (the 16 base
// colours, themed in app.css) or inline colour values computed from numbers.

// CSI sequences (colours, cursor moves), OSC sequences (titles, links) and
// other two-byte escapes. Only SGR ("…m") changes what we draw.
const ESC = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;

const CUBE = [0, 95, 135, 175, 215, 255];

function color256(n) {
  if (n < 16) return { cls: n };
  if (n < 232) {
    n -= 16;
    return { rgb: [CUBE[Math.floor(n / 36)], CUBE[Math.floor(n / 6) % 6], CUBE[n % 6]] };
  }
  const v = 8 + (n - 232) * 10;
  return { rgb: [v, v, v] };
}

function applySGR(st, params) {
  const p = params === '' ? [0] : params.split(/[;:]/).map((x) => (x === '' ? 0 : Number(x)));
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) {
      st.fg = st.bg = null;
      st.bold = st.dim = st.italic = st.underline = false;
    } else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = true;
    else if (c === 22) st.bold = st.dim = false;
    else if (c === 23) st.italic = false;
    else if (c === 24) st.underline = false;
    else if (c >= 30 && c <= 37) st.fg = { cls: c - 30 };
    else if (c >= 90 && c <= 97) st.fg = { cls: c - 90 + 8 };
    else if (c === 39) st.fg = null;
    else if (c >= 40 && c <= 47) st.bg = { cls: c - 40 };
    else if (c >= 100 && c <= 107) st.bg = { cls: c - 100 + 8 };
    else if (c === 49) st.bg = null;
    else if (c === 38 || c === 48) {
      let col = null;
      if (p[i + 1] === 5 && i + 2 < p.length) {
        col = color256(p[i + 2] & 255);
        i += 2;
      } else if (p[i + 1] === 2 && i + 4 < p.length) {
        col = { rgb: [p[i + 2] & 255, p[i + 3] & 255, p[i + 4] & 255] };
        i += 4;
      } else {
        i = p.length; // malformed: ignore the rest
      }
      if (c === 38) st.fg = col;
      else st.bg = col;
    }
  }
}

function styled(st) {
  return st.fg || st.bg || st.bold || st.dim || st.italic || st.underline;
}

function span(text, st) {
  const s = document.createElement('span');
  s.textContent = text;
  const cls = [];
  if (st.fg) {
    if (st.fg.rgb) s.style.color = `rgb(${st.fg.rgb.join(',')})`;
    else cls.push('a-fg' + st.fg.cls);
  }
  if (st.bg) {
    if (st.bg.rgb) s.style.backgroundColor = `rgb(${st.bg.rgb.join(',')})`;
    else cls.push('a-bg' + st.bg.cls);
  }
  if (st.bold) cls.push('a-b');
  if (st.dim) cls.push('a-d');
  if (st.italic) cls.push('a-i');
  if (st.underline) cls.push('a-u');
  if (cls.length) s.className = cls.join(' ');
  return s;
}

// A carriage return redraws the line (progress bars): keep what was drawn last.
function lastDrawn(line) {
  if (line.indexOf('\r') < 0) return line;
  const parts = line.split('\r');
  for (let i = parts.length - 1; i >= 0; i--) if (parts[i] !== '') return parts[i];
  return '';
}

/** Appends the line to parent as text nodes and styled spans. */
export function renderAnsi(parent, line) {
  line = lastDrawn(line);
  if (line.indexOf('\x1b') < 0) {
    parent.append(line);
    return;
  }
  const st = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
  let last = 0;
  const push = (text) => {
    if (text) parent.append(styled(st) ? span(text, st) : text);
  };
  ESC.lastIndex = 0;
  for (let m; (m = ESC.exec(line)); ) {
    push(line.slice(last, m.index));
    if (m[2] === 'm') applySGR(st, m[1]);
    last = ESC.lastIndex;
  }
  push(line.slice(last));
}

/** The line without escape sequences (for copying and searching). */
export function stripAnsi(line) {
  return lastDrawn(line).replace(ESC, '');
}
