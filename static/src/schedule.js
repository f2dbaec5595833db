// The notebook's Schedule panel: the draft's triggers (flow.yaml's), each
// cron with its zone, a plain description and its next fire times (in the
// zone and in the viewer's), paused or not. Adding, editing and removing
// a trigger is a flow.update of the draft like any other flow.yaml edit;
// pausing is a studio setting kept in the database, posted as a form.
import { el } from './dom.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

// renderSchedule draws the panel from nb.draft.triggers; the form keeps
// what is being typed in it.
export function renderSchedule(nb) {
  const host = nb.main.querySelector('[data-schedule]');
  if (!host) return;
  const triggers = nb.draft.triggers || [];
  // What the server last said (triggers.paused), else what the page came with.
  const paused = new Set(nb.paused ?? readPaused());
  let list = host.querySelector('[data-trigger-list]');
  let form = host.querySelector('[data-trigger-form]');
  if (!list) {
    list = el('div', { 'data-trigger-list': '' });
    host.append(note(host), list);
    if (location.hash === '#schedule') host.closest('details')?.setAttribute('open', '');
    if (nb.canEdit) {
      form = triggerForm(nb, host);
      host.append(form);
    }
  }
  list.replaceChildren(triggers.length
    ? el('div', { class: 'table-wrap' }, el('table', { class: 'triggers-table' },
      el('thead', {}, el('tr', {}, ...['Trigger', 'Timezone', 'Next fire times', 'State', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...triggers.map((t, i) => triggerRow(nb, host, t, i, paused.has(t.key))))))
    : el('p', { class: 'muted', 'data-no-triggers': '' }, 'This flow has no triggers: it runs when someone starts it.'));
  if (!form) return;
  if (form.dataset.mode === 'edit' && Number(form.dataset.index) >= triggers.length) resetForm(form, triggers.length);
  else if (form.dataset.mode === 'add') setFormIndex(form, triggers.length);
}

function readPaused() {
  const s = document.getElementById('paused-triggers');
  try {
    return (s && JSON.parse(s.textContent)) || [];
  } catch {
    return [];
  }
}

function note(host) {
  const v = Number(host.dataset.published || 0);
  return el('p', { class: 'muted small', 'data-schedule-note': '' }, v
    ? `The scheduler runs the published version (v${v}). The triggers below are the draft's: save and publish a version for a change to take effect. Pausing takes effect at once.`
    : 'No version of this flow is published, so its schedule starts nothing yet. The triggers below are the draft\'s.');
}

function triggerRow(nb, host, t, i, isPaused) {
  const actions = [];
  if (nb.canEdit) {
    if (t.cron) actions.push(el('button', { type: 'button', class: 'btn btn-small', 'data-trigger-edit': String(i), onclick: () => editTrigger(host, t, i) }, 'Edit'));
    actions.push(el('button', { type: 'button', class: 'btn btn-small', 'data-trigger-remove': String(i), onclick: () => sendTriggers(nb, null, (nb.draft.triggers || []).filter((_, j) => j !== i)) }, 'Remove'));
    const url = isPaused ? host.dataset.resumeUrl : host.dataset.pauseUrl;
    actions.push(el('form', { method: 'post', action: url, class: 'trigger-pause' },
      el('input', { type: 'hidden', name: 'key', value: t.key }),
      el('button', { type: 'submit', class: 'btn btn-small', 'data-trigger-pause': isPaused ? 'resume' : 'pause' }, isPaused ? 'Resume' : 'Pause')));
  }
  const what = t.cron
    ? el('div', {}, el('code', { 'data-trigger-cron': '' }, t.cron), describeCron(t.cron) ? el('div', { class: 'muted small' }, describeCron(t.cron)) : null)
    : el('div', {}, 'Webhook', t.rate ? ` (at most ${t.rate} runs a second per token)` : '', ' — ', el('a', { href: host.dataset.hooksUrl, 'data-hooks-link': '' }, 'manage its tokens'));
  const zone = t.timezone || 'UTC';
  let next = null;
  if (t.error) next = el('span', { class: 'error', 'data-trigger-error': '' }, t.error);
  else if (t.cron) {
    next = el('ul', { class: 'next-fires' }, ...(t.next || []).map((iso) => el('li', { 'data-next': iso },
      el('span', {}, formatIn(iso, zone)), el('span', { class: 'muted small' }, ` (${formatIn(iso)} your time)`))));
  }
  return el('tr', { 'data-trigger': t.key, 'data-paused': String(isPaused) },
    el('td', {}, what),
    el('td', {}, t.cron ? zone : ''),
    el('td', {}, next),
    el('td', {}, el('span', { class: isPaused ? 'chip chip-canceled' : 'chip chip-succeeded', 'data-trigger-state': '' }, isPaused ? 'Paused' : 'Active')),
    el('td', { class: 'actions' }, ...actions));
}

// formatIn writes an RFC 3339 time in a zone (the viewer's when none).
function formatIn(iso, zone) {
  const opts = { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  if (zone) opts.timeZone = zone;
  try {
    return new Intl.DateTimeFormat(undefined, opts).format(new Date(iso)) + (zone ? ' ' + zone : '');
  } catch {
    return iso;
  }
}

// describeCron says the common schedules in words ('' for the others).
export function describeCron(spec) {
  const desc = { '@yearly': 'every year on 1 January at 00:00', '@annually': 'every year on 1 January at 00:00', '@monthly': 'on the first of every month at 00:00', '@weekly': 'every Sunday at 00:00', '@daily': 'every day at 00:00', '@midnight': 'every day at 00:00', '@hourly': 'every hour' };
  const s = spec.trim();
  if (desc[s]) return desc[s];
  const f = s.split(/\s+/);
  if (f.length !== 5) return '';
  const [min, hour, dom, mon, dow] = f;
  const num = (x, hi) => /^\d+$/.test(x) && Number(x) <= hi;
  const at = () => `${hour.padStart(2, '0')}:${min.padStart(2, '0')}`;
  if (min === '*' && hour === '*' && dom === '*' && mon === '*' && dow === '*') return 'every minute';
  const step = /^\*\/(\d+)$/.exec(min);
  if (step && hour === '*' && dom === '*' && mon === '*' && dow === '*') return `every ${step[1]} minutes`;
  if (num(min, 59) && hour === '*' && dom === '*' && mon === '*' && dow === '*') return `every hour at minute ${min}`;
  if (!num(min, 59) || !num(hour, 23) || mon !== '*') return '';
  if (dom === '*' && dow === '*') return `every day at ${at()}`;
  if (dom === '*' && num(dow, 7)) return `every ${DAYS[Number(dow) % 7]} at ${at()}`;
  if (dom === '*' && dow === '1-5') return `every weekday at ${at()}`;
  if (num(dom, 31) && dow === '*') return `on day ${dom} of every month at ${at()}`;
  return '';
}

function triggerForm(nb, host) {
  const form = el('form', { class: 'trigger-form', 'data-trigger-form': '', 'data-mode': 'add', 'data-index': '' },
    el('h3', { 'data-trigger-form-title': '' }, 'Add a cron trigger'),
    el('div', { class: 'grid-2' },
      el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'Cron'),
        el('input', { name: 'cron', placeholder: '0 6 * * *', spellcheck: 'false', autocomplete: 'off' }),
        el('span', { class: 'field-help' }, 'minute hour day-of-month month day-of-week, or @daily'),
        el('span', { class: 'field-error', 'data-error-for': 'cron' })),
      el('label', { class: 'field' }, el('span', { class: 'field-label' }, 'Timezone'),
        el('input', { name: 'timezone', placeholder: 'UTC', spellcheck: 'false', autocomplete: 'off' }),
        el('span', { class: 'field-help' }, 'an IANA zone such as Europe/Paris; empty is UTC'),
        el('span', { class: 'field-error', 'data-error-for': 'timezone' }))),
    el('p', { class: 'field-error', 'data-error-for': 'triggers' }),
    el('div', { class: 'actions' },
      el('button', { type: 'submit', class: 'btn btn-primary', 'data-trigger-submit': '' }, 'Add trigger'),
      el('button', { type: 'button', class: 'btn', 'data-trigger-cancel': '', hidden: true, onclick: () => resetForm(form, (nb.draft.triggers || []).length) }, 'Cancel'),
      (nb.draft.triggers || []).some((t) => t.webhook) ? null
        : el('button', { type: 'button', class: 'btn', 'data-trigger-add-webhook': '', onclick: () => sendTriggers(nb, null, [...(nb.draft.triggers || []), { webhook: true }]) }, 'Add a webhook trigger')));
  form.onsubmit = (e) => {
    e.preventDefault();
    const ts = (nb.draft.triggers || []).slice();
    const t = { cron: form.elements.cron.value.trim(), timezone: form.elements.timezone.value.trim() };
    const i = Number(form.dataset.index);
    if (form.dataset.mode === 'edit' && i < ts.length) ts[i] = { ...ts[i], ...t };
    else ts.push(t);
    sendTriggers(nb, form, ts, () => resetForm(form, ts.length));
  };
  setFormIndex(form, (nb.draft.triggers || []).length);
  return form;
}

// setFormIndex names the form's error places after the trigger it edits,
// so that the server's error (field triggers.N.cron) shows at the field.
function setFormIndex(form, i) {
  form.dataset.index = String(i);
  form.querySelector('[data-error-for$="cron"]').dataset.errorFor = `triggers.${i}.cron`;
  form.querySelector('[data-error-for$="timezone"]').dataset.errorFor = `triggers.${i}.timezone`;
}

function resetForm(form, n) {
  form.dataset.mode = 'add';
  form.elements.cron.value = '';
  form.elements.timezone.value = '';
  form.querySelector('[data-trigger-form-title]').textContent = 'Add a cron trigger';
  form.querySelector('[data-trigger-submit]').textContent = 'Add trigger';
  form.querySelector('[data-trigger-cancel]').hidden = true;
  form.querySelectorAll('[data-error-for]').forEach((x) => (x.textContent = ''));
  setFormIndex(form, n);
}

function editTrigger(host, t, i) {
  const form = host.querySelector('[data-trigger-form]');
  if (!form) return;
  form.dataset.mode = 'edit';
  form.elements.cron.value = t.cron || '';
  form.elements.timezone.value = t.timezone || '';
  form.querySelector('[data-trigger-form-title]').textContent = `Edit trigger ${i + 1}`;
  form.querySelector('[data-trigger-submit]').textContent = 'Save trigger';
  form.querySelector('[data-trigger-cancel]').hidden = false;
  setFormIndex(form, i);
  form.elements.cron.focus();
}

// sendTriggers replaces the draft's triggers; done runs once the server
// took them.
function sendTriggers(nb, form, ts, done) {
  const triggers = ts.map((t) => {
    const o = {};
    if (t.cron) o.cron = t.cron;
    if (t.timezone) o.timezone = t.timezone;
    if (t.webhook) o.webhook = true;
    if (t.rate) o.rate = t.rate;
    return o;
  });
  const msg = { t: 'flow.update', triggers };
  if (!nb.send(msg, form) || !done) return;
  const p = nb.pending.get(msg.id);
  if (p) p.resolve = (ok) => ok && done();
}
