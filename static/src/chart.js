// Charts for results that are a series: a tiny SVG chart of our own rather
// than a charting library. It draws bars or a line from numbers, is built
// with DOM calls only (labels are textContent, so data never becomes
// markup), needs no inline script or style (the CSP stays strict) and adds
// about 3 KB to the bundle instead of 60–200 KB.

const SVG = 'http://www.w3.org/2000/svg';
const MAX_POINTS = 500;
const MAX_SERIES = 6;

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** rows (objects) → a series when one column labels and others are numbers. */
function fromRows(rows, columns) {
  if (!Array.isArray(rows) || rows.length < 2 || !rows.every(isObj)) return null;
  const cols = columns && columns.length ? columns.map(String) : Object.keys(rows[0]);
  const numeric = cols.filter((c) => rows.every((r) => isNum(r[c])));
  const label = cols.find((c) => !numeric.includes(c) && rows.every((r) => typeof r[c] === 'string' || isNum(r[c])));
  let values = numeric.filter((c) => c !== label);
  if (!values.length) return null;
  // With no text column, a first numeric column that only grows is the x axis.
  let labels;
  if (label) labels = rows.map((r) => String(r[label]));
  else if (values.length > 1 && rows.every((r, i) => i === 0 || r[values[0]] > rows[i - 1][values[0]])) {
    labels = rows.map((r) => String(r[values[0]]));
    values = values.slice(1);
  } else labels = rows.map((_, i) => String(i + 1));
  return {
    labels: labels.slice(0, MAX_POINTS),
    series: values.slice(0, MAX_SERIES).map((c) => ({ name: c, values: rows.slice(0, MAX_POINTS).map((r) => r[c]) })),
  };
}

/** A value → a series: numbers, rows, or an object of numbers. */
function fromValue(v) {
  if (Array.isArray(v)) {
    if (v.length >= 2 && v.every(isNum)) return { labels: v.slice(0, MAX_POINTS).map((_, i) => String(i + 1)), series: [{ name: 'value', values: v.slice(0, MAX_POINTS) }] };
    return fromRows(v);
  }
  if (isObj(v)) {
    const keys = Object.keys(v);
    if (keys.length >= 2 && keys.every((k) => isNum(v[k]))) return { labels: keys.slice(0, MAX_POINTS), series: [{ name: 'value', values: keys.slice(0, MAX_POINTS).map((k) => v[k]) }] };
  }
  return null;
}

/** The series in a cell's result, by the cell's kind, or null. */
export function seriesOf(result, kind) {
  if (!isObj(result)) return fromValue(result);
  switch (kind) {
    case 'sql':
      return fromRows(result.rows, result.columns);
    case 'expr':
      return 'value' in result ? fromValue(result.value) : null;
    case 'http':
      return 'body' in result ? fromValue(result.body) : null;
    case 'shell':
    case 'python':
      return isObj(result.outputs) ? fromValue(result.outputs) : null;
    case 'markdown':
      return null;
  }
  return fromValue(result);
}

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function fmt(n) {
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/** An SVG chart of a series: bars for a few points, else lines. */
export function renderChart(s) {
  const W = 640, H = 240, L = 48, R = 12, T = 12, B = 40;
  const all = s.series.flatMap((x) => x.values);
  const lo = Math.min(0, ...all), hi = Math.max(0, ...all);
  const span = hi - lo || 1;
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / span);
  const n = s.labels.length;
  const bars = n <= 24;
  const step = (W - L - R) / Math.max(1, bars ? n : n - 1);
  const svg = node('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img' });
  svg.append(node('title', {}, `Chart of ${s.series.map((x) => x.name).join(', ')}`));
  svg.append(node('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), class: 'chart-axis' }));
  svg.append(node('text', { x: L - 6, y: y(hi) + 4, 'text-anchor': 'end', class: 'chart-tick' }, fmt(hi)));
  if (lo < 0) svg.append(node('text', { x: L - 6, y: y(lo) + 4, 'text-anchor': 'end', class: 'chart-tick' }, fmt(lo)));
  svg.append(node('text', { x: L - 6, y: y(0) + 4, 'text-anchor': 'end', class: 'chart-tick' }, '0'));
  const every = Math.ceil(n / 8);
  s.labels.forEach((lab, i) => {
    if (i % every) return;
    const x = bars ? L + step * (i + 0.5) : L + step * i;
    svg.append(node('text', { x, y: H - B + 16, 'text-anchor': 'middle', class: 'chart-tick' }, lab.length > 12 ? lab.slice(0, 11) + '…' : lab));
  });
  s.series.forEach((ser, k) => {
    const cls = `chart-s${k}`;
    if (bars) {
      const w = (step * 0.8) / s.series.length;
      ser.values.forEach((v, i) => {
        const x = L + step * i + step * 0.1 + w * k;
        const top = Math.min(y(v), y(0));
        const r = node('rect', { x, y: top, width: Math.max(1, w - 1), height: Math.max(1, Math.abs(y(v) - y(0))), class: cls });
        r.append(node('title', {}, `${s.labels[i]}: ${v}`));
        svg.append(r);
      });
    } else {
      const pts = ser.values.map((v, i) => `${(L + step * i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      svg.append(node('polyline', { points: pts, class: cls + ' chart-line', fill: 'none' }));
    }
  });
  const box = document.createElement('figure');
  box.className = 'chart-box';
  box.append(svg);
  if (s.series.length > 1 || s.series[0].name !== 'value') {
    const legend = document.createElement('figcaption');
    legend.className = 'chart-legend';
    s.series.forEach((ser, k) => {
      const item = document.createElement('span');
      item.className = `chart-key chart-k${k}`;
      item.textContent = ser.name;
      legend.append(item);
    });
    box.append(legend);
  }
  return box;
}

/** Draws (or clears) the chart of a cell's result into el. */
export function drawChart(el, result, kind) {
  if (!el) return false;
  const s = result === undefined || result === null ? null : seriesOf(result, kind);
  el.replaceChildren();
  el.hidden = !s;
  if (s) el.append(renderChart(s));
  return !!s;
}
