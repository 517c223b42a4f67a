// DOM helpers: elements are built with h() (never innerHTML, so no API string is ever parsed as
// markup), and forms get labelled fields, per-field error slots and a polite live region.
import { t } from './i18n.js';
import { ApiError } from './api.js';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let fieldSeq = 0;

// A labelled input with a hint and an error slot wired through aria-describedby.
export function field({ name, label, type = 'text', autocomplete, required = false, hint, value,
  inputmode, options, multiline = false, attrs = {} }) {
  const id = `f${++fieldSeq}-${name}`;
  const errId = `${id}-err`, hintId = `${id}-hint`;
  const described = [hint ? hintId : null, errId].filter(Boolean).join(' ');
  let input;
  if (options) {
    input = h('select', { id, name, required, 'aria-required': required ? 'true' : null, 'aria-describedby': described, ...attrs },
      options.map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
  } else if (multiline) {
    input = h('textarea', { id, name, rows: 4, 'aria-describedby': described, ...attrs });
    if (value) input.value = value;
  } else {
    input = h('input', { id, name, type, autocomplete, inputmode, required, 'aria-required': required ? 'true' : null,
      'aria-describedby': described, ...attrs });
    if (value !== undefined) input.value = value;
  }
  input.dataset.label = label;
  return h('div', { class: 'field' },
    h('label', { for: id }, label, required ? '' : h('span', { class: 'muted' }, ` (${t('optional')})`)),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errId }));
}

// A group of checkboxes sharing one name (e.g. token scopes), with one error slot.
export function checkboxes({ name, legend, items }) {
  const errId = `g${++fieldSeq}-${name}-err`;
  const set = h('fieldset', { 'data-name': name, 'aria-describedby': errId },
    h('legend', {}, legend),
    items.map(([v, l, checked]) => h('label', {}, h('input', { type: 'checkbox', name, value: v, checked: !!checked }), h('span', {}, l))),
    h('p', { class: 'field-error', id: errId }));
  set.dataset.label = legend;
  return set;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  const top = form.querySelector('.form-error');
  if (top) top.textContent = '';
}

// What the user should do next, for errors that are not about one field.
export function nextStep(err) {
  if (!(err instanceof ApiError)) return t('err.unexpected');
  if (err.status === 0) return t('err.network');
  if (err.status === 429) return t('err.rate', { s: err.retryAfter || 1 });
  if (err.status >= 500) return t('err.server', { id: err.requestId || '-' });
  if (err.status === 401 && err.field === '' && err.path !== '/api/v1/sessions') return t('err.signin');
  return '';
}

function errorText(err) {
  const detail = err instanceof ApiError ? err.message : String(err && err.message || err);
  const next = nextStep(err);
  return [detail, next].filter(Boolean).join(' ');
}

// Shows an error next to the field the problem names (its label first, so the message says which
// field it is about), or at the top of the form; focuses the field.
export function showError(form, err) {
  const apiField = err instanceof ApiError ? err.field : '';
  const base = apiField.replace(/\[\d+\]$/, '');
  const target = base ? (form.querySelector(`[name="${CSS.escape(base)}"]:not([type="checkbox"])`) ||
                          form.querySelector(`fieldset[data-name="${CSS.escape(base)}"]`)) : null;
  if (target) {
    const label = target.dataset.label;
    const slot = document.getElementById(target.getAttribute('aria-describedby').split(' ').pop());
    slot.textContent = t('err.field', { label, detail: errorText(err) });
    target.setAttribute('aria-invalid', 'true');
    (target.matches('fieldset') ? target.querySelector('input') : target).focus();
    return;
  }
  const top = form.querySelector('.form-error');
  top.textContent = apiField ? t('err.field', { label: apiField, detail: errorText(err) }) : errorText(err);
  top.focus();
}

// Wires a form: client-side check of required fields, busy state while the call runs, errors
// shown by showError(). `onSubmit(values, form)` gets the named values (checkbox groups as arrays).
export function form({ fields, submit, onSubmit, submitClass = 'primary', extra = [], label, formClass }) {
  const button = h('button', { type: 'submit', class: submitClass }, submit);
  const el = h('form', { novalidate: true, 'aria-label': label, class: formClass },
    h('div', { class: 'form-error', role: 'alert', tabindex: '-1' }),
    fields, extra, h('div', { class: 'row' }, button));
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (button.getAttribute('aria-busy') === 'true') return;
    clearErrors(el);
    const values = {};
    for (const input of el.querySelectorAll('input, select, textarea')) {
      if (!input.name) continue;
      if (input.type === 'checkbox') {
        values[input.name] ??= [];
        if (input.checked) values[input.name].push(input.value);
      } else {
        values[input.name] = input.value.trim();
      }
    }
    for (const input of el.querySelectorAll('[required]')) {
      if (!input.value.trim()) {
        showError(el, new ApiError(400, { field: input.name, detail: t('err.required') }));
        return;
      }
    }
    button.setAttribute('aria-busy', 'true');
    button.disabled = true;
    try {
      await onSubmit(values, el);
    } catch (err) {
      if (!(err instanceof ApiError)) console.warn(err);
      showError(el, err);
    } finally {
      button.removeAttribute('aria-busy');
      button.disabled = false;
    }
  });
  return el;
}

// A message in the page's polite live region (and visible under the header). It stays for the
// page it leads to (e.g. "Signed in" on the dashboard) and goes at the navigation after that.
let generation = 0;
export function announce(text, { busy = false } = {}) {
  const status = document.getElementById('status');
  status.dataset.gen = String(generation);
  status.replaceChildren(text ? h('p', { class: busy ? 'busy' : '' }, text) : '');
}
export function navigated() {
  generation += 1;
  const status = document.getElementById('status');
  if (Number(status.dataset.gen || 0) < generation - 1) status.replaceChildren();
}

// A modal confirmation; resolves true when confirmed. Keyboard: Escape cancels, focus starts on Cancel.
export function confirmDialog({ title, body, confirm, danger = true }) {
  return new Promise((resolve) => {
    const cancelBtn = h('button', { type: 'button', value: 'cancel' }, t('cancel'));
    const okBtn = h('button', { type: 'button', class: danger ? 'danger' : 'primary' }, confirm);
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title), h('p', {}, body), h('div', { class: 'row' }, cancelBtn, okBtn));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    cancelBtn.addEventListener('click', () => done(false));
    okBtn.addEventListener('click', () => done(true));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancelBtn.focus();
  });
}

export function fmtTime(iso) {
  if (!iso && iso !== 0) return '';
  const d = new Date(typeof iso === 'number' ? iso * 1000 : iso);  // numbers are unix seconds
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(document.documentElement.lang);
}

// Splits a string for display in groups ("ABCD EFGH ...") without changing what is copied.
export function grouped(s, n = 4) {
  return s.replace(new RegExp(`(.{${n}})(?=.)`, 'g'), '$1 ');
}
