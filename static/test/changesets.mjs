// Cases for the Go change-set implementation (engine/collab), made by the
// real @codemirror/state: random documents (astral characters, \r\n, …) and
// random change sets, with what applying, mapping and composing them gives.
// One JSON object a line on stdout. Run by engine/collab's tests:
//   node static/test/changesets.mjs [count] [seed]
import { ChangeSet, Text } from '@codemirror/state';

const count = Number(process.argv[2] || 2000);
let seed = Number(process.argv[3] || 1) >>> 0;

// mulberry32: small, seedable, so a failing case can be made again.
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rand() * n);
const pick = (a) => a[int(a.length)];

const POOL = ['a', 'b', 'z', ' ', '\n', '\n', '\r\n', '\r', '\t', 'é', 'ß', '€', '中', '😀', '𝄞', '👍🏽', '\u00a0', '"', '\\', '/', '<', '\u2028', '\uffff'];
function str(max) {
  let s = '';
  const n = int(max + 1);
  for (let i = 0; i < n; i++) s += pick(POOL);
  return s;
}
const textOf = (s) => Text.of(s.split('\n'));

function randomSet(len) {
  const specs = [];
  const n = 1 + int(4);
  for (let i = 0; i < n; i++) {
    const from = int(len + 1);
    const to = Math.min(len, from + (rand() < 0.5 ? 0 : int(8)));
    const insert = rand() < 0.3 ? '' : str(6);
    specs.push({ from, to, insert });
  }
  // Sorted and apart (one pass), or overlapping in any order (ChangeSet.of
  // composes them), or a single change.
  const mode = int(3);
  if (mode === 0) return ChangeSet.of(specs[0], len);
  if (mode === 1) {
    specs.sort((a, b) => a.from - b.from);
    const apart = [];
    let pos = 0;
    for (const s of specs) if (s.from >= pos) { apart.push(s); pos = s.to; }
    return ChangeSet.of(apart, len, rand() < 0.5 ? '\n' : undefined);
  }
  return ChangeSet.of(specs, len);
}

const out = [];
for (let i = 0; i < count; i++) {
  const docStr = str(int(4) === 0 ? 80 : 20);
  const doc = textOf(docStr);
  const kind = pick(['apply', 'apply', 'compose', 'map', 'seq']);
  const a = randomSet(doc.length);
  if (kind === 'apply') {
    out.push({ kind, doc: docStr, a: a.toJSON(), result: a.apply(doc).toString() });
  } else if (kind === 'compose') {
    const mid = a.apply(doc);
    const b = randomSet(mid.length);
    const c = a.compose(b);
    out.push({ kind, doc: docStr, a: a.toJSON(), b: b.toJSON(), c: c.toJSON(), result: c.apply(doc).toString() });
  } else if (kind === 'map') {
    const b = randomSet(doc.length);
    const before = rand() < 0.5;
    const m = a.map(b, before);
    // The convergence property: both orders give the same text.
    const one = a.compose(b.map(a)).apply(doc).toString();
    const two = b.compose(a.map(b, true)).apply(doc).toString();
    if (one !== two) throw new Error('CodeMirror does not converge?');
    out.push({ kind, doc: docStr, a: a.toJSON(), b: b.toJSON(), before, c: m.toJSON(), result: one });
  } else {
    // A sequence of edits composed into one.
    let d = doc;
    let total = ChangeSet.empty(doc.length);
    const parts = [];
    for (let j = 1 + int(5); j > 0; j--) {
      const s = randomSet(d.length);
      parts.push(s.toJSON());
      d = s.apply(d);
      total = total.compose(s);
    }
    out.push({ kind, doc: docStr, parts, c: total.toJSON(), result: d.toString() });
  }
}
process.stdout.write(out.map((o) => JSON.stringify(o)).join('\n') + '\n');
