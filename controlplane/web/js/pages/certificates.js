// Certificates of one organization (issue 10): names, issuer, expiry in days, status, source
// (AutoSSL or uploaded), download of the chain (PEM; the private key never leaves the server) and
// revocation with a BR reason after a confirmation. A revoked AutoSSL certificate that is still on
// its site is replaced at once (the server issues a new one); the page follows the operation and
// then shows the replacement.
import { h, field, form, announce, confirmDialog, fmtTime } from '../ui.js';
import { t } from '../i18n.js';
import { api, ApiError } from '../api.js';
import { follow } from '../op.js';
import { orgNav, table } from './orgs.js';
import { plainCertError, downloadBlob } from './services.js';

const enc = encodeURIComponent;
const orgPath = (id) => `/api/v1/organizations/${enc(id)}`;
const REASONS = ['keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged', 'unspecified'];

function certPath(org, c) {
  return `${orgPath(org)}/sites/${enc(c.site_id)}/certificates/${enc(c.domain)}`;
}

function expiry(c) {
  if (!c.not_after) return '—';
  const n = c.expires_in_days;
  let words;
  if (n === null || n === undefined) words = '';
  else if (n < 0) words = t('cert.expired', { n: -n });
  else if (n === 0) words = t('cert.today');
  else if (n === 1) words = t('cert.day');
  else words = t('cert.days', { n });
  const soon = typeof n === 'number' && n < 30;
  return h('span', {}, h('span', { class: soon ? 'badge bad' : 'badge', 'data-days': String(n ?? '') }, words), ' ',
    h('span', { class: 'muted nowrap' }, fmtTime(c.not_after)));
}

function status(c) {
  const cls = c.status === 'valid' ? 'badge ok' : (c.status === 'failed' || c.status === 'revoked') ? 'badge bad' : 'badge';
  const parts = [h('span', { class: cls, 'data-status': c.status }, t(`cert.status.${c.status}`))];
  if (c.status === 'failed' && c.last_error) {
    parts.push(' ', h('span', { class: 'https-error' }, plainCertError(c.last_error)));
  }
  if (c.revoked) {
    parts.push(h('p', { class: 'muted', 'data-revoked': c.revoked.serial }, t('cert.revoked_note', {
      serial: c.revoked.serial, date: fmtTime(c.revoked.revoked_at), reason: t(`cert.reason.${c.revoked.reason}`),
    })));
  }
  return h('div', {}, ...parts);
}

async function download(org, c) {
  try {
    const res = await api('GET', `${certPath(org, c)}/pem`, undefined, { raw: true });
    const blob = await res.blob();
    downloadBlob(new Blob([blob], { type: 'application/pem-certificate-chain' }), `${c.domain}.pem`);
    announce(t('cert.downloaded', { domain: c.domain }));
  } catch (err) {
    announce(t('cert.download_failed', { domain: c.domain, error: err.message || t('err.unexpected') }));
  }
}

// The revoke form of one certificate: a reason (required), a confirmation, then the operation.
function revokeForm(org, c, box, rerender) {
  const reason = field({
    name: 'reason', label: t('cert.reason'), required: true, hint: t('cert.reason.hint'), value: '',
    options: [['', t('cert.reason.pick')], ...REASONS.map((r) => [r, t(`cert.reason.${r}`)])],
  });
  return form({
    label: t('cert.revoke_named', { domain: c.domain }), submit: t('cert.revoke'), submitClass: 'danger',
    formClass: 'revoke-form', fields: [reason],
    onSubmit: async (v) => {
      if (!REASONS.includes(v.reason)) throw new ApiError(400, { field: 'reason', detail: t('err.required') });
      const ok = await confirmDialog({
        title: t('cert.revoke.confirm_title', { domain: c.domain }),
        body: t('cert.revoke.confirm_body', { domain: c.domain, serial: c.serial || '' }),
        confirm: t('cert.revoke.confirm'),
      });
      if (!ok) return;
      let r;
      try {
        r = await api('POST', `${certPath(org, c)}/revoke`, { reason: v.reason });
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) {
          throw new ApiError(409, { detail: t('cert.why.revoke_conflict', { error: err.message }) });
        }
        throw err;
      }
      await follow(r.operation.url, box, { label: t('cert.revoke.op', { domain: c.domain }) });
      announce(t('cert.revoked_done', { domain: c.domain }));
      await rerender();
    },
  });
}

export async function certificates({ params, rerender }) {
  const [id] = params;
  const org = await api('GET', orgPath(id));
  const out = h('div', {}, h('h1', {}, t('certs.title')), orgNav(org, `/orgs/${id}/certificates`));
  const list = await api('GET', `${orgPath(id)}/certificates?limit=200`);
  if (!list.items.length) {
    out.append(h('p', { class: 'muted' }, t('cert.none')));
    return out;
  }
  const opBox = h('div', { class: 'op-box' });
  const rows = list.items.map((c) => {
    const actions = h('div', { class: 'row cert-actions' });
    if (c.serial) {
      actions.append(h('button', {
        type: 'button', 'aria-label': t('cert.download', { domain: c.domain }), 'data-download': c.domain,
        onclick: () => download(id, c),
      }, t('cert.download.short')));
    }
    if (c.source === 'acme' && c.status === 'valid' && c.serial && c.serial !== c.revoked?.serial) {
      const details = h('details', { class: 'revoke', 'data-revoke': c.domain },
        h('summary', {}, t('cert.revoke')));
      details.append(revokeForm(id, c, opBox, rerender));
      actions.append(details);
    } else if (c.source === 'upload') {
      actions.append(h('p', { class: 'muted hint' }, t('cert.upload_note')));
    }
    // The row's name alone in its cell; the certificate's other names (e.g. a bundled www.) next.
    const others = (c.names || []).filter((n) => n !== c.domain);
    return h('tr', { 'data-cert': c.domain },
      h('td', {}, c.domain),
      h('td', {}, c.bundled_with ? t('cert.bundled', { name: c.bundled_with })
        : others.length ? others.map((n) => h('div', {}, n)) : '—'),
      h('td', {}, c.issuer || '—'),
      h('td', {}, expiry(c)),
      h('td', {}, status(c)),
      h('td', {}, t(`cert.source.${c.source}`)),
      h('td', {}, actions));
  });
  out.append(table([t('cert.name'), t('cert.also'), t('cert.issuer'), t('cert.expiry'), t('cert.status'), t('cert.source'), t('cert.actions')],
    rows, t('certs.title')), opBox);
  return out;
}
