// A small ANSI SGR parser: turns one line of terminal output into styled runs
// of text, then DOM nodes. Text only ever becomes textContent; colours become
// classes (the 16 base colours, themed in app.css) or inline colour values
// computed from numbers. views/ansi.go follows the same rules; both are
// checked against views/testdata/ansi.json (static/test/ansi.mjs).

// CSI sequences (colours, cursor moves; one cut off at the end of the line
// too), strings (OSC titles and links, DCS, APC…) up to BEL or ST, other
// escapes (ESC ( B, ESC 7, ESC c) and a lone ESC. Only SGR ("…m") changes
// what we draw; the rest is dropped. views/ansi.go has the same expression.
const ESC = /\x1b\[([0-?]*)[ -/]*([@-~]|$)|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?/g;

const CUBE = [0, 95, 135, 175, 215, 255];
const MAX_PARAM = 65535; // where a parameter's value stops growing (as in terminals)
const MAX_LINE_CHARS = 4000; // longer lines are drawn cut (the log has them whole)

function color256(n) {
  if (n < 16) return { cls: n };
  if (n < 232) {
    n -= 16;
    return { rgb: [CUBE[Math.floor(n / 36)], CUBE[Math.floor(n / 6) % 6], CUBE[n % 6]] };
  }
  const v = 8 + (n - 232) * 10;
  return { rgb: [v, v, v] };
}

// The value of one parameter: digits, '' for the default 0.
const param = (s) => Math.min(s === '' ? 0 : Number(s), MAX_PARAM);

// The colour of 38/48's arguments: 5;N (256 colours), 2;R;G;B, or in the
// colon form 2:CS:R:G:B with a colour space; null when malformed.
function extColor(a, colon) {
  if (a.length >= 2 && a[0] === 5) return [color256(a[1] & 255), 2];
  if (colon && a.length >= 5 && a[0] === 2) return [{ rgb: [a[2] & 255, a[3] & 255, a[4] & 255] }, 5];
  if (a.length >= 4 && a[0] === 2) return [{ rgb: [a[1] & 255, a[2] & 255, a[3] & 255] }, 4];
  return [null, a.length];
}

function reset(st) {
  st.fg = st.bg = null;
  st.bold = st.dim = st.italic = st.underline = false;
}

// Changes the style by an SGR's parameters: ';' separates parameters, ':'
// the sub-parameters of one (38:2::R:G:B, 4:3).
function applySGR(st, params) {
  if (/[<=>?]/.test(params)) return; // a private sequence (xterm's CSI > 4 m), not SGR
  const groups = params.split(';');
  for (let i = 0; i < groups.length; i++) {
    const sub = groups[i].split(':');
    const c = param(sub[0]);
    if (c === 0) reset(st);
    else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = sub.length < 2 || param(sub[1]) !== 0; // 4:0 is "no underline"
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
      let col;
      if (sub.length > 1) {
        [col] = extColor(sub.slice(1).map(param), true);
      } else {
        const args = groups.slice(i + 1, i + 5).map((g) => param(g.split(':')[0]));
        let used;
        [col, used] = extColor(args, false);
        if (!col) used = groups.length; // malformed: ignore the rest
        i += used;
      }
      if (c === 38) st.fg = col;
      else st.bg = col;
    }
  }
}

function segment(text, st) {
  const seg = { text, class: '', style: '' };
  const cls = [];
  if (st.fg) {
    if (st.fg.rgb) seg.style += `color:rgb(${st.fg.rgb.join(',')});`;
    else cls.push('a-fg' + st.fg.cls);
  }
  if (st.bg) {
    if (st.bg.rgb) seg.style += `background-color:rgb(${st.bg.rgb.join(',')});`;
    else cls.push('a-bg' + st.bg.cls);
  }
  if (st.bold) cls.push('a-b');
  if (st.dim) cls.push('a-d');
  if (st.italic) cls.push('a-i');
  if (st.underline) cls.push('a-u');
  seg.class = cls.join(' ');
  return seg;
}

// Counts characters (code points, as Go counts runes), never half of one.
function chars(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || s.charCodeAt(i - 1) < 0xd800 || s.charCodeAt(i - 1) > 0xdbff) n++;
  }
  return n;
}

// Keeps the first MAX_LINE_CHARS characters and says how many more there are.
function cut(segs) {
  let n = 0;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const c = chars(s.text);
    if (n + c <= MAX_LINE_CHARS) {
      n += c;
      continue;
    }
    const keep = MAX_LINE_CHARS - n;
    let more = c - keep;
    for (const r of segs.slice(i + 1)) more += chars(r.text);
    const out = segs.slice(0, i);
    if (keep > 0) {
      let end = 0;
      for (let k = 0; k < keep; k++) {
        const hi = s.text.charCodeAt(end);
        const lo = s.text.charCodeAt(end + 1);
        end += hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff ? 2 : 1;
      }
      out.push({ ...s, text: s.text.slice(0, end) });
    }
    out.push({ text: ` … ${more} more character${more === 1 ? '' : 's'}`, class: 'ln-more', style: '' });
    return out;
  }
  return segs;
}

/**
 * Splits one output line into styled runs of text: {text, class, style}. A
 * carriage return starts the line again (progress bars): what is drawn after
 * it replaces what was drawn before, in the style the escapes left.
 */
export function ansiSegments(line) {
  const st = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
  let out = [];
  let redraw = false; // a carriage return came: the next text replaces the line
  const text = (t) => {
    const parts = t.split('\r');
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) redraw = true;
      if (parts[i] === '') continue;
      if (redraw) {
        out = [];
        redraw = false;
      }
      out.push(segment(parts[i], st));
    }
  };
  let last = 0;
  if (line.indexOf('\x1b') >= 0) {
    ESC.lastIndex = 0;
    for (let m; (m = ESC.exec(line)); ) {
      text(line.slice(last, m.index));
      if (m[2] === 'm') applySGR(st, m[1]);
      last = ESC.lastIndex;
    }
  }
  text(line.slice(last));
  return cut(out);
}

/** Appends the line to parent as text nodes and styled spans. */
export function renderAnsi(parent, line) {
  for (const seg of ansiSegments(line)) {
    if (!seg.class && !seg.style) {
      parent.append(seg.text);
      continue;
    }
    const s = document.createElement('span');
    s.textContent = seg.text;
    if (seg.class) s.className = seg.class;
    if (seg.style) s.style.cssText = seg.style;
    parent.append(s);
  }
}
