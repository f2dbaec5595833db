// The studio's browser code: one bundle, each page mounts what it has.
import { mountNotebook } from './notebook.js';
import { mountRunPage } from './runpage.js';
import { timeAgo } from './dom.js';

function start() {
  const notebook = document.getElementById('notebook');
  if (notebook) mountNotebook(notebook);
  const run = document.getElementById('run');
  if (run) mountRunPage(run);
  // Times rendered by the server as <time datetime=… data-ago> stay current.
  const refresh = () => document.querySelectorAll('time[data-ago]').forEach((t) => (t.textContent = timeAgo(t.dateTime)));
  if (document.querySelector('time[data-ago]')) setInterval(refresh, 30000);
  // A button with data-copy="#id" copies that field's value (a webhook URL
  // shown once).
  document.addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('[data-copy]');
    const field = b && document.querySelector(b.dataset.copy);
    if (!field) return;
    field.select();
    const done = () => (b.textContent = 'Copied');
    if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, () => document.execCommand('copy') && done());
    else if (document.execCommand('copy')) done();
  });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
