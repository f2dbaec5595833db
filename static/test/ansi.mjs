// Runs static/src/ansi.js on the shared corpus of terminal lines
// (views/testdata/ansi.json) and prints what it makes of each, one JSON
// object a line: {"name", "got": [{text, class, style}]}. views/ansi_test.go
// checks it against the corpus, as it checks views/ansi.go:
//   node static/test/ansi.mjs [corpus.json]
import { readFileSync } from 'node:fs';
import { ansiSegments } from '../src/ansi.js';

const path = process.argv[2] || new URL('../../views/testdata/ansi.json', import.meta.url);
const corpus = JSON.parse(readFileSync(path, 'utf8'));

// A string, or a list of pieces: a string or [string, times].
const expand = (v) => (typeof v === 'string' ? v : v.map((p) => (typeof p === 'string' ? p : p[0].repeat(p[1]))).join(''));

for (const c of corpus.cases) {
  const got = ansiSegments(expand(c.in)).map((s) => ({ text: s.text, class: s.class, style: s.style }));
  process.stdout.write(JSON.stringify({ name: c.name, got }) + '\n');
}
