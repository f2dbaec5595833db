// Small DOM helpers. Children given as strings become text nodes, so nothing
// built here is ever parsed as HTML.

/** el('a', {href: u, class: 'x'}, 'text', child…) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') node[k] = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** 42 ms, 1.3 s, 2 min 5 s, 1 h 3 min */
export function fmtDuration(ms) {
  if (ms == null || isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "just now", "5 min ago", … */
export function timeAgo(date, now = Date.now()) {
  const s = Math.max(0, (now - new Date(date).getTime()) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/**
 * A WebSocket that reconnects with exponential backoff and reports its state
 * ('connecting' | 'open' | 'closed' | 'done') to onState; a close by the
 * server with a reason (code 1008) is 'done' with that reason.
 */
export function connect(path, { onMessage, onOpen, onState, shouldReconnect = () => true }) {
  let ws = null;
  let tries = 0;
  let timer = 0;
  let stopped = false;
  const url = () => {
    const p = typeof path === 'function' ? path() : path;
    return new URL(p, location.href).toString().replace(/^http/, 'ws');
  };
  const open = () => {
    if (stopped) return;
    onState && onState('connecting');
    ws = new WebSocket(url());
    ws.onopen = () => {
      tries = 0;
      onState && onState('open');
      onOpen && onOpen();
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      onMessage(msg);
    };
    ws.onclose = (e) => {
      ws = null;
      if (e.code === 1008) {
        // Ended by the server for a reason the person must see (signed out,
        // token revoked, role changed, link revoked): say it, do not retry.
        stopped = true;
        onState && onState('done', e.reason || 'The connection was closed.');
        showEnded(e.reason);
        return;
      }
      if (stopped || !shouldReconnect()) {
        onState && onState('done');
        return;
      }
      onState && onState('closed');
      const delay = Math.min(15000, 500 * 2 ** tries) * (0.75 + Math.random() / 2);
      tries++;
      timer = setTimeout(open, delay);
    };
  };
  open();
  return {
    send(msg) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(msg));
        return true;
      }
      return false;
    },
    get open() {
      return !!ws && ws.readyState === WebSocket.OPEN;
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}

/** A banner that stays at the top: why the server closed the connection. */
function showEnded(reason) {
  document.querySelector('[data-ended]')?.remove();
  const bar = el('div', { class: 'form-error', role: 'alert', 'data-ended': '', style: 'position:sticky;top:0;z-index:60;margin:0' },
    (reason || 'The connection was closed.') + ' ', el('a', { href: location.href }, 'Reload'));
  document.body.prepend(bar);
}

/** Shows a short message at the bottom of the page. */
export function toast(text, kind = 'info') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = el('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const t = el('div', { class: 'toast toast-' + kind }, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}
