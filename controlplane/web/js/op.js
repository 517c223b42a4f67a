// Progress of a long operation (`202` + `/api/v1/organizations/{org}/operations/{id}`): a labelled
// <progress> with the current step, polled until the operation ends. It always ends in an
// outcome: success, or an error that says what to do next (also after a time-out).
import { h, announce } from './ui.js';
import { t } from './i18n.js';
import { api, ApiError } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Follows `url` and renders into `box` (replacing its content). Resolves with the operation's
// result on success; rejects with an ApiError whose message says what happened and what to do.
export async function follow(url, box, { label, timeoutMs = 180000 } = {}) {
  const bar = h('progress', { 'aria-label': label });
  const state = h('p', { class: 'op-state' }, t('op.pending'));
  const wrap = h('div', { class: 'op card', 'data-op': url, role: 'group', 'aria-label': label },
    h('p', { class: 'op-title' }, h('strong', {}, label)), bar, state);
  box.replaceChildren(wrap);
  announce(t('op.started', { what: label }), { busy: true });
  const end = Date.now() + timeoutMs;
  let failures = 0;
  for (;;) {
    let op;
    try {
      op = await api('GET', url);
      failures = 0;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      if (++failures >= 5) {
        wrap.dataset.outcome = 'failed';
        state.textContent = t('op.lost', { what: label });
        announce(state.textContent);
        throw new ApiError(err.status || 0, { detail: t('op.lost', { what: label }) });
      }
      await sleep(1000);
      continue;
    }
    const p = op.progress || null;
    if (p && p.total) {
      bar.max = p.total;
      bar.value = Math.min(p.done || 0, p.total);
    } else if (op.state === 'succeeded') {
      bar.max = 1;
      bar.value = 1;
    }
    wrap.dataset.state = op.state;
    if (op.state === 'succeeded') {
      wrap.dataset.outcome = 'succeeded';
      wrap.classList.add('ok');
      state.textContent = t('op.succeeded', { what: label });
      announce(state.textContent);
      return op.result || {};
    }
    if (op.state === 'failed' || op.state === 'cancelled') {
      wrap.dataset.outcome = 'failed';
      wrap.classList.add('bad');
      state.textContent = t(op.state === 'failed' ? 'op.failed' : 'op.cancelled',
        { what: label, error: op.error || t('op.noreason') });
      state.setAttribute('role', 'alert');
      announce('');
      throw new ApiError(409, { detail: state.textContent });
    }
    const step = p && p.step ? ` (${p.step}${p.total ? `, ${p.done || 0}/${p.total}` : ''})` : '';
    state.textContent = `${t(`op.state.${op.state}`)}${step}${op.error ? ` — ${t('op.retrying', { error: op.error })}` : ''}`;
    if (Date.now() > end) {
      wrap.dataset.outcome = 'timeout';
      state.textContent = t('op.timeout', { what: label });
      announce(state.textContent);
      throw new ApiError(504, { detail: state.textContent });
    }
    await sleep(400);
  }
}
