// Account security: password change, TOTP enrollment (secret, otpauth URI, recovery codes shown
// once) and TOTP removal. IP allow-lists are per organization (organization settings).
import { h, field, form, announce, grouped } from '../ui.js';
import { t } from '../i18n.js';
import { api } from '../api.js';

export async function security({ rerender }) {
  const me = await api('GET', '/api/v1/me');
  const out = h('div', {}, h('h1', {}, t('sec.title')), h('p', { class: 'muted' }, t('dash.signed_in_as', { email: me.user.email })));

  const totp = h('section', { class: 'card', 'aria-labelledby': 'totp-h' }, h('h2', { id: 'totp-h' }, t('totp.title')));
  if (me.user.totp_enabled) {
    totp.append(h('p', {}, h('span', { class: 'badge ok' }, t('totp.on'))), form({
      label: t('totp.disable'),
      fields: [field({ name: 'password', label: t('f.password'), type: 'password', autocomplete: 'current-password', required: true, hint: t('totp.disable.hint') })],
      submit: t('totp.disable'), submitClass: 'danger',
      onSubmit: async (v) => {
        await api('DELETE', '/api/v1/me/totp', { password: v.password });
        announce(t('totp.disabled'));
        rerender();
      },
    }));
  } else {
    const start = h('button', { type: 'button', class: 'primary' }, t('totp.enable'));
    const area = h('div', { 'aria-live': 'polite' });
    start.addEventListener('click', async () => {
      start.setAttribute('aria-busy', 'true');
      start.disabled = true;
      try {
        const r = await api('POST', '/api/v1/me/totp');
        start.remove();
        area.replaceChildren(enrollment(r, rerender));
        area.querySelector('input').focus();
      } catch (err) {
        area.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, err.message));
        start.removeAttribute('aria-busy');
        start.disabled = false;
      }
    });
    totp.append(h('p', {}, h('span', { class: 'badge bad' }, t('totp.off')), ' ', t('totp.why')), start, area);
  }
  out.append(totp);

  out.append(h('section', { class: 'card', 'aria-labelledby': 'pw-h' }, h('h2', { id: 'pw-h' }, t('pw.title')), form({
    label: t('pw.title'),
    fields: [
      field({ name: 'current_password', label: t('f.current_password'), type: 'password', autocomplete: 'current-password', required: true }),
      field({ name: 'new_password', label: t('f.new_password'), type: 'password', autocomplete: 'new-password', required: true, hint: t('f.password.hint') }),
    ],
    submit: t('pw.submit'),
    onSubmit: async (v, el) => {
      await api('POST', '/api/v1/me/password', { current_password: v.current_password, new_password: v.new_password });
      el.reset();
      announce(t('pw.done'));
    },
  })));

  out.append(h('section', { class: 'card' }, h('h2', {}, t('ip.title')), h('p', {}, t('ip.body')),
    h('ul', {}, me.organizations.map((o) => h('li', {}, h('a', { href: `#/orgs/${o.id}` }, o.name),
      ' — ', (o.ip_allowlist || []).length ? o.ip_allowlist.join(', ') : t('ip.none'))))));
  return out;
}

function enrollment(r, rerender) {
  const wrap = h('div', {},
    h('p', {}, t('totp.step1')),
    // The QR code of the otpauth URI, drawn by the server (no third party sees the secret).
    h('img', { class: 'qr', src: '/api/v1/me/totp/qr', alt: t('totp.qr_alt'), width: '240', height: '240', 'data-testid': 'totp-qr' }),
    h('p', {}, t('totp.qr_or')),
    h('p', {}, h('strong', {}, t('totp.secret'))),
    h('code', { class: 'secret', 'data-testid': 'totp-secret', 'data-secret': r.secret }, grouped(r.secret)),
    h('p', {}, h('strong', {}, t('totp.uri'))),
    h('code', { class: 'secret', 'data-testid': 'totp-uri' }, r.otpauth_uri),
    h('p', {}, h('a', { href: r.otpauth_uri }, t('totp.open_app'))),
    h('p', {}, t('totp.step2')));
  wrap.append(form({
    label: t('totp.confirm'),
    fields: [field({ name: 'code', label: t('f.totp_code'), autocomplete: 'one-time-code', inputmode: 'numeric', required: true,
      hint: t('f.totp_code.hint'), attrs: { maxlength: '6' } })],
    submit: t('totp.confirm'),
    onSubmit: async (v) => {
      const done = await api('POST', '/api/v1/me/totp/confirm', { code: v.code });
      announce(t('totp.enabled'));
      wrap.replaceChildren(h('div', { class: 'card once' },
        h('h3', {}, t('totp.codes.title')), h('p', {}, t('totp.codes.body')),
        h('ol', { class: 'codes', 'data-testid': 'recovery-codes' }, done.recovery_codes.map((c) => h('li', {}, c))),
        h('button', { type: 'button', class: 'primary', onclick: () => rerender() }, t('totp.codes.saved'))));
      wrap.querySelector('h3').setAttribute('tabindex', '-1');
      wrap.querySelector('h3').focus();
    },
  }));
  return wrap;
}
