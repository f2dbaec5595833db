// A preview of a markdown cell edited in this page, until the server sends its
// sanitized rendering: headings, paragraphs, lists, code, emphasis and links,
// built with DOM calls (never innerHTML), so the text cannot become markup.
import { el } from './dom.js';

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*]+\*|_[^_]+_)|\[([^\]]+)\]\(([^)\s]+)\)/g;

function inline(parent, text) {
  let last = 0;
  INLINE.lastIndex = 0;
  for (let m; (m = INLINE.exec(text)); ) {
    parent.append(text.slice(last, m.index));
    if (m[1]) parent.append(el('code', {}, m[1].slice(1, -1)));
    else if (m[2]) parent.append(el('strong', {}, m[2].slice(2, -2)));
    else if (m[3]) parent.append(el('em', {}, m[3].slice(1, -1)));
    else {
      const safe = /^(https?:\/\/|\/|#)/.test(m[5]);
      parent.append(safe ? el('a', { href: m[5], rel: 'noopener noreferrer' }, m[4]) : m[4]);
    }
    last = INLINE.lastIndex;
  }
  parent.append(text.slice(last));
}

export function renderMarkdown(src) {
  const root = document.createDocumentFragment();
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  const endPara = () => {
    if (para.length) {
      const p = el('p');
      inline(p, para.join(' '));
      root.append(p);
    }
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^```/.test(line)) {
      endPara();
      list = null;
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      root.append(el('pre', {}, el('code', {}, code.join('\n'))));
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    const li = /^\s*(?:[-*+]|(\d+)\.)\s+(.*)$/.exec(line);
    if (h) {
      endPara();
      list = null;
      const node = el('h' + h[1].length);
      inline(node, h[2]);
      root.append(node);
    } else if (li) {
      endPara();
      const tag = li[1] ? 'ol' : 'ul';
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = el(tag);
        root.append(list);
      }
      const item = el('li');
      inline(item, li[2]);
      list.append(item);
    } else if (line.trim() === '') {
      endPara();
      list = null;
    } else {
      list = null;
      para.push(line.trim());
    }
  }
  endPara();
  return root;
}
