// Sign-up, e-mail verification, sign-in (with the TOTP step), password reset, invitations.
import { h, field, form, announce } from '../ui.js';
import { t } from '../i18n.js';
import { api, session } from '../api.js';

function safeNext(query) {
  const next = query.get('next') || '/';
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

// An agency's sign-up link carries ?referral=<code>: kept in this browser until the new
// customer applies it on the billing page (prefilled there), which needs a signed-in owner.
export const REFERRAL_KEY = 'hp.referral';
export function signup({ query } = {}) {
  const referral = (query?.get('referral') || '').trim();
  if (/^[A-Za-z0-9-]{4,40}$/.test(referral)) {
    try { localStorage.setItem(REFERRAL_KEY, referral); } catch { /* storage off: the customer types it */ }
  }
  const f = form({
    label: t('signup.title'),
    fields: [
      field({ name: 'email', label: t('f.email'), type: 'email', autocomplete: 'email', required: true }),
      field({ name: 'name', label: t('f.name'), autocomplete: 'name' }),
      field({ name: 'organization_name', label: t('f.org_name'), autocomplete: 'organization', required: true, hint: t('f.org_name.hint') }),
      field({ name: 'password', label: t('f.password'), type: 'password', autocomplete: 'new-password', required: true, hint: t('f.password.hint') }),
    ],
    submit: t('signup.submit'),
    onSubmit: async (v, el) => {
      const body = { email: v.email, password: v.password, organization_name: v.organization_name };
      if (v.name) body.name = v.name;
      await api('POST', '/api/v1/signup', body);
      el.replaceWith(h('div', { class: 'sent', role: 'status' },
        h('h2', {}, t('signup.sent.title')),
        h('p', {}, t('signup.sent.body', { email: v.email })),
        h('p', {}, h('a', { href: '#/signin' }, t('signup.sent.signin')))));
      announce(t('signup.sent.title'));
    },
  });
  let kept = '';
  try { kept = localStorage.getItem(REFERRAL_KEY) || ''; } catch { /* none */ }
  return h('section', { class: 'card narrow' }, h('h1', {}, t('signup.title')),
    kept ? h('p', { class: 'hint', 'data-testid': 'signup-referral' }, t('bill.referral_from_link', { code: kept })) : null, f,
    h('p', {}, t('signup.have'), ' ', h('a', { href: '#/signin' }, t('nav.signin'))));
}

export async function verifyEmail({ query }) {
  const token = query.get('token') || '';
  const box = h('section', { class: 'card narrow' }, h('h1', {}, t('verify.title')));
  if (!token) {
    box.append(h('p', { class: 'form-error', role: 'alert' }, t('verify.notoken')));
    return box;
  }
  announce(t('verify.working'), { busy: true });
  try {
    const r = await api('POST', '/api/v1/email/verify', { token });
    announce(t('verify.done'));
    box.append(h('p', { class: 'ok' }, t('verify.ok', { email: r.user.email })),
      h('p', {}, h('a', { href: `#/signin?email=${encodeURIComponent(r.user.email)}`, class: 'button' }, t('verify.signin'))));
  } catch (err) {
    announce('');
    box.append(h('p', { class: 'form-error', role: 'alert' }, `${t('verify.failed')} ${err.message}`),
      h('p', {}, t('verify.failed.next'), ' ', h('a', { href: '#/reset-password' }, t('reset.title'))));
  }
  return box;
}

export function signin({ query, go }) {
  const section = h('section', { class: 'card narrow' }, h('h1', {}, t('signin.title')));
  const next = safeNext(query);
  const done = (r) => {
    session.set(r.csrf_token);
    announce(t('signin.done', { email: r.user.email }));
    go(next);
  };
  const passwordStep = form({
    label: t('signin.title'),
    fields: [
      field({ name: 'email', label: t('f.email'), type: 'email', autocomplete: 'username', required: true, value: query.get('email') || undefined }),
      field({ name: 'password', label: t('f.password'), type: 'password', autocomplete: 'current-password', required: true }),
    ],
    submit: t('signin.submit'),
    onSubmit: async (v) => {
      try {
        done(await api('POST', '/api/v1/sessions', { email: v.email, password: v.password }));
      } catch (err) {
        // The password was right and a second factor is needed: ask for it on its own screen.
        if (err.status === 401 && err.field === 'totp_code') {
          const step = totpStep(v);
          passwordStep.replaceWith(step);
          step.querySelector('input').focus();
          return;
        }
        throw err;
      }
    },
  });
  const totpStep = (creds) => {
    let useRecovery = false;
    const codeField = () => useRecovery
      ? field({ name: 'recovery_code', label: t('f.recovery_code'), autocomplete: 'off', required: true, hint: t('f.recovery_code.hint') })
      : field({ name: 'totp_code', label: t('f.totp_code'), autocomplete: 'one-time-code', inputmode: 'numeric', required: true,
        hint: t('f.totp_code.hint'), attrs: { pattern: '[0-9]*', maxlength: '6' } });
    const wrap = h('div', {});
    const build = () => {
      const f = form({
        label: t('signin.totp.title'),
        fields: [codeField()],
        submit: t('signin.verify'),
        extra: [h('p', {}, h('button', { type: 'button', class: 'link', onclick: () => { useRecovery = !useRecovery; build(); } },
          useRecovery ? t('signin.use_totp') : t('signin.use_recovery')))],
        onSubmit: async (v) => {
          const body = { email: creds.email, password: creds.password };
          if (useRecovery) body.recovery_code = v.recovery_code; else body.totp_code = v.totp_code;
          done(await api('POST', '/api/v1/sessions', body));
        },
      });
      wrap.replaceChildren(h('h2', {}, t('signin.totp.title')), h('p', { class: 'muted' }, t('signin.totp.body')), f);
      if (wrap.isConnected) f.querySelector('input').focus();
    };
    build();
    return wrap;
  };
  section.append(passwordStep,
    h('p', {}, h('a', { href: '#/reset-password' }, t('signin.forgot'))),
    h('p', {}, t('signin.new'), ' ', h('a', { href: '#/signup' }, t('nav.signup'))));
  return section;
}

export function resetPassword({ query }) {
  const token = query.get('token');
  const section = h('section', { class: 'card narrow' }, h('h1', {}, t('reset.title')));
  if (!token) {
    section.append(h('p', {}, t('reset.ask')), form({
      label: t('reset.title'),
      fields: [field({ name: 'email', label: t('f.email'), type: 'email', autocomplete: 'email', required: true })],
      submit: t('reset.send'),
      onSubmit: async (v, el) => {
        await api('POST', '/api/v1/password-reset', { email: v.email });
        el.replaceWith(h('p', { role: 'status' }, t('reset.sent', { email: v.email })));
      },
    }));
    return section;
  }
  section.append(form({
    label: t('reset.title'),
    fields: [field({ name: 'password', label: t('f.new_password'), type: 'password', autocomplete: 'new-password', required: true, hint: t('f.password.hint') })],
    submit: t('reset.set'),
    onSubmit: async (v, el) => {
      await api('POST', '/api/v1/password-reset/confirm', { token, password: v.password });
      el.replaceWith(h('p', { role: 'status' }, t('reset.done'), ' ', h('a', { href: '#/signin' }, t('nav.signin'))));
    },
  }));
  return section;
}

export function acceptInvitation({ query, go }) {
  const token = query.get('token') || '';
  const section = h('section', { class: 'card narrow' }, h('h1', {}, t('invite.title')));
  section.append(h('p', {}, t('invite.body')), form({
    label: t('invite.title'),
    fields: [],
    submit: t('invite.accept'),
    onSubmit: async () => {
      const r = await api('POST', '/api/v1/invitations/accept', { token });
      announce(t('invite.done', { org: r.organization.name }));
      go(`/orgs/${r.organization.id}`);
    },
  }));
  return section;
}
