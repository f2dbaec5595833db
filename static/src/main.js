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
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
