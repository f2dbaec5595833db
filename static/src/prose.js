// Markdown is rendered by the server only (server/markdown.go: goldmark, then
// bluemonday), the same for a page, a notebook preview and a run's prose. A
// page sends text that changed since the server rendered it to a markdown
// route (server/markdown_render.go) and shows the sanitized HTML it gets back.
import { el } from './dom.js';

/** Asks the markdown route url to render text; resolves to sanitized HTML. */
export async function renderOnServer(url, text, signal) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'text/markdown; charset=utf-8' },
    body: text,
    signal,
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: an error page, or a proxy's
  }
  if (!res.ok || !body || typeof body.html !== 'string') {
    throw new Error(body?.error?.message || `the server answered ${res.status}`);
  }
  return body.html;
}

/**
 * The rendering of one markdown text in one box, kept up to date: update asks
 * the server (after a pause, for typing), a newer text overrides an older one
 * still on its way, and a text already shown is not asked for again.
 */
export class Preview {
  /**
   * @param {string} url the markdown route
   * @param {() => Element|null} box where the HTML goes (looked up each time)
   * @param {string|null} shown the text the box already shows rendered
   */
  constructor(url, box, shown = null) {
    this.url = url;
    this.box = box;
    this.shown = shown;
    this.asked = null; // the text on its way
    this.ctrl = null;
    this.timer = 0;
  }

  /** Shows text rendered, asking the server after wait ms (0: now). */
  update(text, wait = 0) {
    clearTimeout(this.timer);
    if (this.ctrl && this.asked === text) return;
    if (text === this.shown) {
      this.stop(); // an older text on its way must not replace it
      return;
    }
    if (wait > 0) {
      this.timer = setTimeout(() => this.update(text, 0), wait);
      return;
    }
    this.ask(text);
  }

  async ask(text) {
    this.ctrl?.abort();
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    this.asked = text;
    let html = null;
    let err = null;
    try {
      html = await renderOnServer(this.url, text, ctrl.signal);
    } catch (e) {
      err = e;
    }
    if (this.ctrl !== ctrl) return; // overridden or stopped
    this.ctrl = null;
    this.asked = null;
    const box = this.box();
    if (!box) return;
    if (err) {
      // The text as it is, never as markup; asked again on the next change.
      box.replaceChildren(el('p', { class: 'muted small', 'data-preview-error': '' }, `Not rendered: ${err.message}`), el('pre', { class: 'markdown-text' }, text));
      this.shown = null;
      return;
    }
    box.innerHTML = html; // sanitized by the server (server/markdown.go)
    this.shown = text;
  }

  /** Forgets a text waiting or on its way. */
  stop() {
    clearTimeout(this.timer);
    this.ctrl?.abort();
    this.ctrl = null;
    this.asked = null;
  }
}
