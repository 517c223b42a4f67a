// Services of one organization: plans (catalog, order, subscriptions), shared-hosting sites with
// their HTTPS status, VPS (create, power, snapshots, resize), DNS zones and records, certificates.
// Every 202 answer is followed to its outcome through the operation progress component (op.js).
import { h, field, form, announce, confirmDialog, fmtTime } from '../ui.js';
import { t } from '../i18n.js';
import { api, ApiError } from '../api.js';
import { follow } from '../op.js';
import { orgNav, table } from './orgs.js';

const enc = encodeURIComponent;
const orgPath = (id) => `/api/v1/organizations/${enc(id)}`;
export const yen = (n) => `¥${Number(n || 0).toLocaleString('ja-JP')}`;

async function orgPage(id, here, title) {
  const org = await api('GET', orgPath(id));
  const out = h('div', {}, h('h1', {}, title), orgNav(org, here));
  return { org, out };
}

// A section with a heading (h2) and content.
const section = (title, ...children) => h('section', { class: 'card' }, h('h2', {}, title), ...children);

// ---- plans --------------------------------------------------------------------------------------

export async function plans({ params, rerender }) {
  const [id] = params;
  const { out } = await orgPage(id, `/orgs/${id}/plans`, t('plans.title'));
  const [catalog, subs] = await Promise.all([api('GET', `${orgPath(id)}/catalog`), api('GET', `${orgPath(id)}/subscriptions`)]);
  const names = Object.fromEntries(catalog.items.map((p) => [p.code, p.name]));
  const options = [];
  for (const p of catalog.items) {
    for (const pr of p.prices) {
      options.push([`${p.code}|${pr.period}`, t('plans.option', { name: p.name, period: t(`period.${pr.period}`),
        price: yen(pr.price), setup: yen(pr.setup_fee) })]);
    }
  }
  const changeBox = h('div', { 'aria-live': 'polite' });
  // Change plan: a preview of the prorated credit and charge first, then the change.
  const changePlan = (sub) => {
    const preview = h('div', { 'aria-live': 'polite' });
    const f = form({
      label: t('plans.change_named', { name: names[sub.product] || sub.product }),
      fields: [field({ name: 'product', label: t('plans.new_plan'), required: true,
        options: [['', t('plans.choose')], ...options.filter(([v]) => v !== `${sub.product}|${sub.period}`)] })],
      submit: t('plans.change_confirm'),
      onSubmit: async (v) => {
        const [product, period] = v.product.split('|');
        await api('POST', `${orgPath(id)}/subscriptions/${enc(sub.id)}/change-plan`, { product, period });
        announce(t('plans.changed', { name: names[product] || product }));
        await rerender();
      },
    });
    f.elements.product.addEventListener('change', async () => {
      preview.replaceChildren();
      if (!f.elements.product.value) return;
      const [product, period] = f.elements.product.value.split('|');
      try {
        const pv = await api('GET', `${orgPath(id)}/subscriptions/${enc(sub.id)}/change-plan?product=${enc(product)}&period=${enc(period)}`);
        const pr = pv.proration || pv;
        preview.replaceChildren(h('p', { 'data-testid': 'proration' }, t('plans.preview', { credit: yen(pr.credit), charge: yen(pr.charge), net: yen(pr.net) }),
          pr.explanation ? h('span', { class: 'muted' }, ` ${pr.explanation}`) : null));
      } catch (err) {
        preview.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, t('err.field', { label: t('plans.new_plan'), detail: err.message })));
      }
    });
    f.querySelector('.row').before(preview);
    changeBox.replaceChildren(section(t('plans.change_named', { name: names[sub.product] || sub.product }), f));
    f.elements.product.focus();
  };
  const cancelSub = async (sub, btn) => {
    if (!(await confirmDialog({ title: t('plans.cancel_named', { name: names[sub.product] || sub.product }), body: t('plans.cancel_body', { name: names[sub.product] || sub.product, date: sub.current_period?.end || '' }), confirm: t('plans.cancel_confirm') }))) return;
    btn.disabled = true;
    try {
      await api('POST', `${orgPath(id)}/subscriptions/${enc(sub.id)}/cancel`, {});
      announce(t('plans.cancelled', { name: names[sub.product] || sub.product }));
      await rerender();
    } catch (err) {
      announce(err.message);
      btn.disabled = false;
    }
  };
  out.append(section(t('plans.current'), subs.items.length
    ? table([t('plans.product'), t('plans.period'), t('plans.price'), t('plans.state'), t('plans.period_end'), ''],
      subs.items.map((s) => {
        const active = s.state === 'active' && !s.cancel_at_period_end;
        const change = active ? h('button', { type: 'button', 'aria-label': t('plans.change_named', { name: names[s.product] || s.product }) }, t('plans.change')) : null;
        change?.addEventListener('click', () => changePlan(s));
        const cancel = active ? h('button', { type: 'button', class: 'danger', 'aria-label': t('plans.cancel_named', { name: names[s.product] || s.product }) }, t('plans.cancel')) : null;
        cancel?.addEventListener('click', () => cancelSub(s, cancel));
        return h('tr', {}, h('td', {}, names[s.product] || s.product), h('td', {}, t(`period.${s.period}`)),
          h('td', { class: 'nowrap' }, yen(s.period_price)),
          h('td', {}, h('span', { class: s.state === 'active' ? 'badge ok' : 'badge' }, s.cancel_at_period_end ? t('plans.ends') : s.state)),
          h('td', { class: 'nowrap' }, s.current_period?.end || ''), h('td', {}, h('div', { class: 'row' }, change, cancel)));
      }), t('plans.current'))
    : h('p', { class: 'muted' }, t('plans.none')), changeBox));

  if (!catalog.items.length) {
    out.append(section(t('plans.order'), h('p', { class: 'muted' }, t('plans.empty_catalog'))));
    return out;
  }
  out.append(section(t('plans.order'), h('p', { class: 'hint' }, t('plans.tax_note')), form({
    label: t('plans.order'),
    fields: [field({ name: 'product', label: t('plans.product'), options: [['', t('plans.choose')], ...options], required: true })],
    submit: t('plans.order_submit'),
    onSubmit: async (v) => {
      const [product, period] = v.product.split('|');
      const sub = await api('POST', `${orgPath(id)}/subscriptions`, { product, period });
      announce(t('plans.ordered', { name: names[sub.product] || sub.product }));
      rerender();
    },
  })));
  return out;
}

// ---- sites --------------------------------------------------------------------------------------

// The last error of a certificate in plain words with what to do next (the ACME problem type
// decides; the technical text stays available under "Details").
export function plainCertError(raw) {
  const kinds = [
    [/error:dns\b|no A or AAAA|NXDOMAIN|SERVFAIL/i, 'https.why.dns'],
    [/error:caa\b|CAA/i, 'https.why.caa'],
    [/error:rateLimited|rate limit/i, 'https.why.rate'],
    [/error:connection|connection refused|timed? ?out|could not connect/i, 'https.why.connection'],
    [/error:unauthorized|invalid response|HTTP 404|HTTP 403/i, 'https.why.unauthorized'],
  ];
  for (const [re, key] of kinds) if (re.test(raw)) return t(key);
  return t('https.failed_why', { error: raw || t('op.noreason') });
}

// "active" with the expiry, or the last error in plain words with what to do.
export function httpsStatus(cert) {
  if (!cert) return h('span', { class: 'badge' }, t('https.none'));
  if (cert.status === 'valid') {
    return h('span', {}, h('span', { class: 'badge ok', 'data-https': 'valid' }, t('https.valid')), ' ',
      h('span', { class: 'muted' }, t('https.until', { date: fmtTime(cert.not_after) })));
  }
  if (cert.status === 'failed') {
    const raw = cert.last_error || '';
    return h('span', {}, h('span', { class: 'badge bad', 'data-https': 'failed' }, t('https.failed')), ' ',
      h('span', { class: 'https-error' }, plainCertError(raw)), ' ',
      raw ? h('details', { class: 'https-detail' }, h('summary', {}, t('https.details')), h('code', {}, raw)) : null);
  }
  return h('span', { class: 'badge', 'data-https': cert.status }, t(`https.${cert.status}`));
}

export async function sites({ params, rerender }) {
  const [id] = params;
  const { out } = await orgPage(id, `/orgs/${id}/sites`, t('sites.title'));
  const [list, certs] = await Promise.all([api('GET', `${orgPath(id)}/sites?limit=200`),
    api('GET', `${orgPath(id)}/certificates?limit=200`).catch(() => ({ items: [] }))]);
  const certOf = (site, domain) => certs.items.find((c) => c.site_id === site.id && c.domain === domain)
    || certs.items.find((c) => c.domain === domain);
  const progress = h('div', { 'aria-live': 'polite' });

  const requestCert = async (site, domain, btn) => {
    btn.setAttribute('aria-busy', 'true');
    btn.disabled = true;
    try {
      await api('POST', `${orgPath(id)}/sites/${enc(site.id)}/certificates`, { domain });
      announce(t('https.requested', { domain }));
      await watchCerts();
    } catch (err) {
      announce(`${domain}: ${err.message}`);
    } finally {
      btn.removeAttribute('aria-busy');
      btn.disabled = false;
    }
  };
  // Polls the certificates until none of this organization's is pending or issuing (and, with
  // `domain`, until that name has one: AutoSSL requests it right after the site change).
  const watchCerts = async (domain) => {
    const end = Date.now() + 180000;
    const appear = Date.now() + 15000;
    announce(t('https.waiting'), { busy: true });
    for (;;) {
      const now = await api('GET', `${orgPath(id)}/certificates?limit=200`);
      const missing = domain && !now.items.some((c) => c.domain === domain) && Date.now() < appear;
      if ((!missing && !now.items.some((c) => c.status === 'pending' || c.status === 'issuing')) || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 700));
    }
    announce('');
    await rerender();
  };

  const rows = [];
  const removeDomain = async (site, domain, btn) => {
    if (!(await confirmDialog({ title: t('sites.remove_domain'), body: t('sites.remove_domain_body', { domain }), confirm: t('sites.remove_domain') }))) return;
    btn.setAttribute('aria-busy', 'true');
    btn.disabled = true;
    try {
      const r = await api('DELETE', `${orgPath(id)}/sites/${enc(site.id)}/domains/${enc(domain)}`);
      await follow(r.operation.url, progress, { label: t('sites.removing_domain', { domain }) });
      rerender();
    } catch (err) {
      announce(`${domain}: ${err.message}`);
    } finally {
      btn.removeAttribute('aria-busy');
      btn.disabled = false;
    }
  };
  // Site actions on the site's own row: SFTP password (shown once), suspend/resume, delete.
  const secretBox = h('div', { 'aria-live': 'polite' });
  const siteAction = async (site, what, btn) => {
    const base = `${orgPath(id)}/sites/${enc(site.id)}`;
    if (what !== 'sftp' && !(await confirmDialog({ title: t(`sites.${what}`), body: t(`sites.${what}_body`, { domain: site.domain }), confirm: t(`sites.${what}`), danger: what !== 'unsuspend' }))) return;
    btn.setAttribute('aria-busy', 'true');
    btn.disabled = true;
    try {
      if (what === 'sftp') {
        const r = await api('POST', `${base}/actions/reset-sftp-password`, {});
        secretBox.replaceChildren(h('section', { class: 'card once', 'aria-labelledby': 'sftp-h' },
          h('h2', { id: 'sftp-h' }, t('sites.sftp_new', { domain: site.domain })), h('p', {}, t('tokens.once')),
          h('p', {}, t('sites.sftp'), ': ', h('code', {}, r.sftp_user || site.sftp_user)),
          h('code', { class: 'secret', 'data-testid': 'sftp-password' }, r.password)));
        announce(t('sites.sftp_new', { domain: site.domain }));
        return;
      }
      const r = what === 'delete' ? await api('DELETE', base) : await api('POST', `${base}/actions/${what}`, {});
      await follow(r.operation.url, progress, { label: t(`sites.${what}_doing`, { domain: site.domain }) });
      await rerender();
    } catch (err) {
      announce(`${site.domain}: ${err.message}`);
    } finally {
      btn.removeAttribute('aria-busy');
      btn.disabled = false;
    }
  };
  const siteButtons = (site) => {
    const mk = (what, danger) => {
      const b = h('button', { type: 'button', class: danger ? 'danger' : '', 'aria-label': t(`sites.${what}_named`, { domain: site.domain }) },
        t(what === 'sftp' ? 'sites.sftp_reset' : `sites.${what}`));
      b.addEventListener('click', () => siteAction(site, what, b));
      return b;
    };
    return [site.state === 'active' ? mk('sftp') : null, site.state === 'active' ? mk('suspend', true) : null,
      site.state === 'suspended' ? mk('unsuspend') : null, ['active', 'suspended', 'failed'].includes(site.state) ? mk('delete', true) : null];
  };
  for (const s of list.items) {
    const names = s.domains?.length ? s.domains : [s.domain, `www.${s.domain}`];
    for (const domain of names) {
      const own = domain === s.domain || domain === `www.${s.domain}`;
      const cert = certOf(s, domain);
      const btn = h('button', { type: 'button', 'aria-label': t('https.request_named', { domain }) },
        cert && cert.status === 'valid' ? t('https.renew') : t('https.request'));
      btn.addEventListener('click', () => requestCert(s, domain, btn));
      const rm = own ? null : h('button', { type: 'button', class: 'danger', 'aria-label': t('sites.remove_domain_named', { domain }) }, t('sites.remove_domain'));
      rm?.addEventListener('click', () => removeDomain(s, domain, rm));
      rows.push(h('tr', { 'data-domain': domain }, h('td', {}, h('a', { href: `https://${domain}/`, rel: 'noopener' }, domain)),
        h('td', {}, domain === s.domain ? h('span', { class: s.state === 'active' ? 'badge ok' : 'badge' }, s.state) : t('sites.alias_of', { domain: s.domain })),
        h('td', {}, domain === s.domain ? `${s.used_mib} / ${s.quota_mib} MiB` : ''),
        h('td', {}, domain === s.domain ? h('code', {}, s.sftp_user) : ''),
        h('td', { class: 'https' }, httpsStatus(cert)),
        h('td', {}, h('div', { class: 'row' }, s.state === 'active' && (!cert || cert.status === 'failed' || cert.status === 'valid') ? btn : null, rm,
          domain === s.domain ? siteButtons(s) : null))));
    }
  }
  out.append(h('section', { 'aria-labelledby': 'sites-h' }, h('h2', { id: 'sites-h' }, t('sites.list')),
    rows.length ? table([t('sites.domain'), t('sites.state'), t('sites.usage'), t('sites.sftp'), t('sites.https'), ''], rows, t('sites.list'))
      : h('p', { class: 'muted' }, t('sites.none'))), secretBox);
  if (certs.items.some((c) => c.status === 'pending' || c.status === 'issuing')) {
    out.append(h('p', { class: 'muted', role: 'status' }, t('https.waiting')));
    setTimeout(() => { if (document.body.contains(out)) watchCerts().catch(() => {}); }, 0);
  }
  const checkDomain = (raw, name = 'domain') => {
    const domain = raw.toLowerCase().replace(/\.$/, '');
    if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain)) {
      throw new ApiError(400, { field: name, detail: t('v.domain') });
    }
    return domain;
  };

  // A further name on an existing site (served by the same files; HTTPS follows by itself).
  const active = list.items.filter((x) => x.state === 'active');
  if (active.length) {
    out.append(section(t('sites.add_name'), h('p', { class: 'hint' }, t('sites.add_name_hint')), form({
      label: t('sites.add_name'),
      fields: [
        field({ name: 'site', label: t('sites.site'), options: active.map((x) => [x.id, x.domain]), value: active[0].id }),
        field({ name: 'domain', label: t('sites.domain'), required: true, autocomplete: 'off', hint: t('sites.domain_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
      ],
      submit: t('sites.add_name_submit'), submitClass: '',
      onSubmit: async (v) => {
        const domain = checkDomain(v.domain);
        const r = await api('POST', `${orgPath(id)}/sites/${enc(v.site)}/domains`, { domain });
        await follow(r.operation.url, progress, { label: t('sites.adding_name', { domain }) });
        await watchCerts(domain);
      },
    })));
  }

  out.append(section(t('sites.add'), h('p', { class: 'hint' }, t('sites.add_hint')), form({
    label: t('sites.add'),
    fields: [
      field({ name: 'domain', label: t('sites.domain'), required: true, autocomplete: 'off', hint: t('sites.domain_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
      field({ name: 'quota_mib', label: t('sites.quota'), type: 'number', value: '1024', inputmode: 'numeric', attrs: { min: '1' } }),
    ],
    submit: t('sites.add_submit'),
    onSubmit: async (v) => {
      const domain = checkDomain(v.domain);
      const body = { domain };
      if (v.quota_mib) {
        if (!/^\d+$/.test(v.quota_mib) || Number(v.quota_mib) < 1) throw new ApiError(400, { field: 'quota_mib', detail: t('v.positive') });
        body.quota_mib = Number(v.quota_mib);
      }
      const created = await api('POST', `${orgPath(id)}/sites`, body);
      await follow(created.operation.url, progress, { label: t('sites.creating', { domain }) });
      // AutoSSL requests the certificates when the site becomes active; follow them here.
      await watchCerts(domain);
    },
  })), progress);
  return out;
}

// ---- VPS ----------------------------------------------------------------------------------------

function planFields(plan = {}) {
  return [
    field({ name: 'plan.vcpus', label: t('vps.vcpus'), type: 'number', inputmode: 'numeric', required: true, value: String(plan.vcpus ?? 1), attrs: { min: '1' } }),
    field({ name: 'plan.ram_mib', label: t('vps.ram'), type: 'number', inputmode: 'numeric', required: true, value: String(plan.ram_mib ?? 1024), attrs: { min: '256', step: '256' } }),
    field({ name: 'plan.disk_gib', label: t('vps.disk'), type: 'number', inputmode: 'numeric', required: true, value: String(plan.disk_gib ?? 10), attrs: { min: '1' } }),
  ];
}
function planOf(v) {
  const plan = {};
  for (const k of ['vcpus', 'ram_mib', 'disk_gib']) {
    const raw = v[`plan.${k}`];
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new ApiError(400, { field: `plan.${k}`, detail: t('v.positive') });
    plan[k] = Number(raw);
  }
  return plan;
}

export async function vpsList({ params, go }) {
  const [id] = params;
  const { out } = await orgPage(id, `/orgs/${id}/vps`, t('vps.title'));
  const list = await api('GET', `${orgPath(id)}/vps?limit=200`);
  out.append(h('section', { 'aria-labelledby': 'vps-h' }, h('h2', { id: 'vps-h' }, t('vps.list')), list.items.length
    ? table([t('vps.hostname'), t('vps.state'), t('vps.plan'), t('vps.addresses'), t('vps.zone')], list.items.map((v) => h('tr', {},
      h('td', {}, h('a', { href: `#/orgs/${id}/vps/${v.id}` }, v.hostname)),
      h('td', {}, h('span', { class: v.state === 'running' ? 'badge ok' : 'badge' }, v.state)),
      h('td', {}, t('vps.plan_text', v.plan)), h('td', {}, [v.ipv4, v.ipv6].filter(Boolean).join(' ')), h('td', {}, v.zone))), t('vps.list'))
    : h('p', { class: 'muted' }, t('vps.none'))));
  const progress = h('div', { 'aria-live': 'polite' });
  out.append(section(t('vps.create'), form({
    label: t('vps.create'),
    fields: [
      field({ name: 'hostname', label: t('vps.hostname'), required: true, autocomplete: 'off', hint: t('vps.hostname_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
      field({ name: 'template', label: t('vps.template'), required: true, value: 'tiny', hint: t('vps.template_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
      ...planFields(),
      field({ name: 'ssh_authorized_key', label: t('vps.ssh_key'), multiline: true, hint: t('vps.ssh_key_hint') }),
    ],
    submit: t('vps.create_submit'),
    onSubmit: async (v) => {
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(v.hostname)) throw new ApiError(400, { field: 'hostname', detail: t('v.hostname') });
      const body = { hostname: v.hostname, template: v.template, plan: planOf(v) };
      if (v.ssh_authorized_key) body.ssh_authorized_key = v.ssh_authorized_key;
      const created = await api('POST', `${orgPath(id)}/vps`, body);
      await follow(created.operation.url, progress, { label: t('vps.creating', { name: v.hostname }) });
      go(`/orgs/${id}/vps/${created.vps.id}`);
    },
  })), progress);
  return out;
}

export async function vpsDetail({ params, rerender, go }) {
  const [id, vid] = params;
  const base = `${orgPath(id)}/vps/${enc(vid)}`;
  const [vps, snaps] = await Promise.all([api('GET', base), api('GET', `${base}/snapshots`)]);
  const { out } = await orgPage(id, `/orgs/${id}/vps`, vps.hostname);
  const progress = h('div', { 'aria-live': 'polite' });
  const act = async (label, method, path, body, btn) => {
    const status = out.querySelector('.act-error');
    status.textContent = '';
    if (btn) { btn.setAttribute('aria-busy', 'true'); btn.disabled = true; }
    try {
      const r = await api(method, path, body);
      if (r && r.operation) await follow(r.operation.url, progress, { label });
      rerender();
    } catch (err) {
      status.textContent = `${label}: ${err.message}`;
      status.focus();
    } finally {
      if (btn) { btn.removeAttribute('aria-busy'); btn.disabled = false; }
    }
  };
  const button = (key, action, body, danger) => {
    const b = h('button', { type: 'button', class: danger ? 'danger' : '' }, t(key));
    b.addEventListener('click', async () => {
      if (danger && !(await confirmDialog({ title: t(key), body: t('vps.confirm', { action: t(key), name: vps.hostname }), confirm: t(key) }))) return;
      act(t(key), 'POST', `${base}/actions/${action}`, body, b);
    });
    return b;
  };
  out.append(section(t('vps.overview'),
    h('dl', { class: 'facts' },
      h('dt', {}, t('vps.state')), h('dd', {}, h('span', { class: vps.state === 'running' ? 'badge ok' : 'badge', 'data-state': vps.state }, vps.state)),
      h('dt', {}, t('vps.plan')), h('dd', {}, t('vps.plan_text', vps.plan)),
      h('dt', {}, t('vps.addresses')), h('dd', {}, [vps.ipv4, vps.ipv6].filter(Boolean).join(' ') || '—'),
      h('dt', {}, t('vps.template')), h('dd', {}, vps.template),
      h('dt', {}, t('vps.zone')), h('dd', {}, vps.zone)),
    h('p', { class: 'form-error act-error', role: 'alert', tabindex: '-1' }),
    h('div', { class: 'row', role: 'group', 'aria-label': t('vps.power') },
      vps.state === 'running' ? [button('vps.stop', 'stop', {}, true), button('vps.reboot', 'reboot', {}, true)]
        : [button('vps.start', 'start', {})])));
  out.append(progress);

  out.append(section(t('vps.snapshots'), snaps.items.length
    ? table([t('vps.snapshot_name'), t('vps.state'), t('certs.updated'), ''], snaps.items.map((s) => {
      const revert = h('button', { type: 'button', 'aria-label': t('vps.revert_named', { name: s.name }) }, t('vps.revert'));
      revert.addEventListener('click', async () => {
        if (await confirmDialog({ title: t('vps.revert'), body: t('vps.revert_body', { name: s.name }), confirm: t('vps.revert') })) {
          act(t('vps.revert_named', { name: s.name }), 'POST', `${base}/snapshots/${enc(s.id)}/revert`, {}, revert);
        }
      });
      const del = h('button', { type: 'button', class: 'danger', 'aria-label': t('vps.snapshot_delete_named', { name: s.name }) }, t('delete'));
      del.addEventListener('click', async () => {
        if (await confirmDialog({ title: t('delete'), body: t('vps.snapshot_delete_named', { name: s.name }), confirm: t('delete') })) {
          act(t('vps.snapshot_delete_named', { name: s.name }), 'DELETE', `${base}/snapshots/${enc(s.id)}`, undefined, del);
        }
      });
      return h('tr', {}, h('td', {}, s.name), h('td', {}, s.state), h('td', { class: 'nowrap' }, fmtTime(s.created_at)),
        h('td', {}, s.state === 'ready' ? h('div', { class: 'row' }, revert, del) : ''));
    }), t('vps.snapshots'))
    : h('p', { class: 'muted' }, t('vps.snapshots_none')),
  form({
    label: t('vps.snapshot_take'),
    fields: [field({ name: 'name', label: t('vps.snapshot_name'), required: true, autocomplete: 'off' })],
    submit: t('vps.snapshot_take'), submitClass: '',
    onSubmit: async (v) => {
      const r = await api('POST', `${base}/snapshots`, { name: v.name });
      await follow(r.operation.url, progress, { label: t('vps.snapshot_taking', { name: v.name }) });
      rerender();
    },
  })));

  // The tail of the serial console (read-only).
  const consoleOut = h('pre', { class: 'console', tabindex: '0', 'aria-label': t('vps.console'), 'data-testid': 'console' });
  const loadConsole = async () => {
    try {
      const text = await api('GET', `${base}/console?bytes=16384`);
      const body = typeof text === 'string' ? text : (text.output ?? text.data ?? text.log ?? JSON.stringify(text));
      consoleOut.textContent = body || t('vps.console_empty');
    } catch (err) {
      consoleOut.textContent = err.message;
    }
  };
  const refresh = h('button', { type: 'button' }, t('vps.console_refresh'));
  refresh.addEventListener('click', loadConsole);
  out.append(section(t('vps.console'), consoleOut, h('div', { class: 'row' }, refresh)));
  await loadConsole();

  out.append(section(t('vps.resize'), h('p', { class: 'hint' }, t('vps.resize_hint')), form({
    label: t('vps.resize'),
    fields: planFields(vps.plan),
    submit: t('vps.resize'), submitClass: '',
    onSubmit: async (v) => {
      const plan = planOf(v);
      if (plan.disk_gib < vps.plan.disk_gib) throw new ApiError(400, { field: 'plan.disk_gib', detail: t('v.disk_grow', { n: vps.plan.disk_gib }) });
      const r = await api('POST', `${base}/actions/resize`, { plan });
      await follow(r.operation.url, progress, { label: t('vps.resizing', { name: vps.hostname }) });
      rerender();
    },
  })));

  // Rebuild from an image (confirmed), delete (the host name typed to confirm); both followed to
  // their outcome in the progress region.
  const rebuildForm = form({
    label: t('vps.rebuild'),
    fields: [
      field({ name: 'template', label: t('vps.template'), required: true, value: vps.template || 'tiny', hint: t('vps.template_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
      field({ name: 'ssh_authorized_key', label: t('vps.ssh_key'), multiline: true, hint: t('vps.ssh_key_hint') }),
    ],
    submit: t('vps.rebuild_submit'), submitClass: 'danger',
    onSubmit: async (v) => {
      if (!(await confirmDialog({ title: t('vps.rebuild'), body: t('vps.rebuild_body', { name: vps.hostname, image: v.template }), confirm: t('vps.rebuild') }))) return;
      const body = { template: v.template };
      if (v.ssh_authorized_key) body.ssh_authorized_key = v.ssh_authorized_key;
      const r = await api('POST', `${base}/actions/rebuild`, body);
      await follow(r.operation.url, progress, { label: t('vps.rebuilding', { name: vps.hostname }) });
      rerender();
    },
  });
  const deleteForm = form({
    label: t('vps.delete'),
    fields: [field({ name: 'confirm_name', label: t('vps.delete_confirm'), required: true, autocomplete: 'off', hint: t('vps.delete_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } })],
    submit: t('vps.delete'), submitClass: 'danger',
    onSubmit: async (v) => {
      if (v.confirm_name !== vps.hostname) throw new ApiError(400, { field: 'confirm_name', detail: t('v.name_mismatch', { name: vps.hostname }) });
      const r = await api('DELETE', base);
      await follow(r.operation.url, progress, { label: t('vps.deleting', { name: vps.hostname }) });
      announce(t('vps.deleted', { name: vps.hostname }));
      go(`/orgs/${id}/vps`);
    },
  });
  out.append(section(t('vps.danger'), h('h3', {}, t('vps.rebuild')), h('p', { class: 'hint' }, t('vps.rebuild_hint')), rebuildForm,
    h('h3', {}, t('vps.delete')), deleteForm));
  return out;
}

// ---- dedicated servers ---------------------------------------------------------------------------

export async function dedicated({ params, rerender }) {
  const [id] = params;
  const base = `${orgPath(id)}/dedicated`;
  const { out } = await orgPage(id, `/orgs/${id}/dedicated`, t('ded.title'));
  const list = await api('GET', base);
  const progress = h('div', { 'aria-live': 'polite' });
  const status = h('p', { class: 'form-error act-error', role: 'alert', tabindex: '-1' });
  const act = async (srv, what, btn) => {
    const name = srv.hostname;
    if (what !== 'power-on' && !(await confirmDialog({ title: t(`ded.${key(what)}_named`, { name }), body: t(`ded.${key(what)}_body`, { name }), confirm: t(`ded.${key(what)}`) }))) return;
    status.textContent = '';
    btn.setAttribute('aria-busy', 'true');
    btn.disabled = true;
    try {
      const r = what === 'release' ? await api('DELETE', `${base}/${enc(srv.id)}`) : await api('POST', `${base}/${enc(srv.id)}/actions/${what}`, {});
      await follow(r.operation.url, progress, { label: t(`ded.${key(what)}_named`, { name }) });
      await rerender();
    } catch (err) {
      status.textContent = `${t(`ded.${key(what)}_named`, { name })}: ${err.message}`;
      status.focus();
      btn.removeAttribute('aria-busy');
      btn.disabled = false;
    }
  };
  const key = (what) => ({ 'power-on': 'power_on', 'power-off': 'power_off', reset: 'reset', release: 'release' })[what];
  const button = (srv, what, danger) => {
    const b = h('button', { type: 'button', class: danger ? 'danger' : '', 'aria-label': t(`ded.${key(what)}_named`, { name: srv.hostname }) }, t(`ded.${key(what)}`));
    b.addEventListener('click', () => act(srv, what, b));
    return b;
  };
  const live = (x) => x.state === 'ready' || x.state === 'active' || x.state === 'running';
  out.append(h('section', { 'aria-labelledby': 'ded-h' }, h('h2', { id: 'ded-h' }, t('ded.list')), status, list.items.length
    ? table([t('ded.hostname'), t('ded.state'), t('ded.power'), t('ded.created'), ''], list.items.map((x) => h('tr', { 'data-server': x.hostname },
      h('td', {}, x.hostname),
      h('td', {}, h('span', { class: live(x) ? 'badge ok' : x.state === 'failed' ? 'badge bad' : 'badge', 'data-state': x.state }, x.state),
        x.error ? h('span', { class: 'https-error' }, ' ', t('ded.error', { error: x.error })) : null),
      h('td', {}, h('span', { class: x.powered_on ? 'badge ok' : 'badge', 'data-power': x.powered_on ? 'on' : 'off' }, x.powered_on ? t('ded.on') : t('ded.off'))),
      h('td', { class: 'nowrap' }, fmtTime(x.created_at)),
      h('td', {}, x.state === 'released' || x.state === 'releasing' ? '' : h('div', { class: 'row' },
        x.powered_on ? [button(x, 'power-off', true), button(x, 'reset', true)] : [button(x, 'power-on', false)],
        button(x, 'release', true))))), t('ded.list'))
    : h('p', { class: 'muted' }, t('ded.none'))));
  out.append(progress);
  out.append(section(t('ded.reserve'), h('p', { class: 'hint' }, t('ded.reserve_hint')), form({
    label: t('ded.reserve'),
    fields: [
      field({ name: 'hostname', label: t('ded.hostname'), required: true, autocomplete: 'off', hint: t('vps.hostname_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
      field({ name: 'template', label: t('ded.template'), required: true, value: 'tiny', hint: t('ded.template_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
      field({ name: 'zone', label: t('ded.zone'), autocomplete: 'off', hint: t('ded.zone_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
    ],
    submit: t('ded.reserve_submit'),
    onSubmit: async (v) => {
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(v.hostname)) throw new ApiError(400, { field: 'hostname', detail: t('v.hostname') });
      const body = { hostname: v.hostname, template: v.template };
      if (v.zone) body.zone = v.zone;
      const r = await api('POST', base, body);
      await follow(r.operation.url, progress, { label: t('ded.reserving', { name: v.hostname }) });
      await rerender();
    },
  })));
  return out;
}

// ---- DNS ----------------------------------------------------------------------------------------

export async function zones({ params, go }) {
  const [id] = params;
  const { out } = await orgPage(id, `/orgs/${id}/dns`, t('dns.title'));
  const list = await api('GET', `${orgPath(id)}/zones?limit=200`);
  out.append(h('section', { 'aria-labelledby': 'z-h' }, h('h2', { id: 'z-h' }, t('dns.zones')), list.items.length
    ? table([t('dns.zone'), t('dns.serial'), t('dns.default_ttl')], list.items.map((z) => h('tr', {},
      h('td', {}, h('a', { href: `#/orgs/${id}/dns/${z.id}` }, z.name)), h('td', {}, String(z.serial)), h('td', {}, String(z.default_ttl)))), t('dns.zones'))
    : h('p', { class: 'muted' }, t('dns.none'))));
  out.append(section(t('dns.add_zone'), form({
    label: t('dns.add_zone'),
    fields: [field({ name: 'name', label: t('dns.zone'), required: true, autocomplete: 'off', hint: t('dns.zone_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } })],
    submit: t('dns.add_zone'),
    onSubmit: async (v) => {
      const z = await api('POST', `${orgPath(id)}/zones`, { name: v.name.toLowerCase() });
      announce(t('dns.zone_added', { name: z.name }));
      go(`/orgs/${id}/dns/${z.id}`);
    },
  })));
  return out;
}

const RR_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'NS', 'SRV', 'CAA'];
// Checks a record's data in the browser so the message names the field before any request.
function checkRecord(type, data, ttl) {
  if (ttl && (!/^\d+$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > 2147483647)) throw new ApiError(400, { field: 'ttl', detail: t('v.ttl') });
  const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  if (type === 'A' && !ipv4.test(data)) throw new ApiError(400, { field: 'data', detail: t('v.ipv4') });
  if (type === 'AAAA' && !(/^[0-9a-f:.]+$/i.test(data) && data.includes(':'))) throw new ApiError(400, { field: 'data', detail: t('v.ipv6') });
  if (type === 'MX' && !/^\d+\s+\S+$/.test(data)) throw new ApiError(400, { field: 'data', detail: t('v.mx') });
  if ((type === 'CNAME' || type === 'NS') && !/^[A-Za-z0-9_.-]+$/.test(data)) throw new ApiError(400, { field: 'data', detail: t('v.hostname_data') });
}

function recordFields(r = {}) {
  return [
    field({ name: 'name', label: t('dns.rr_name'), value: r.name ?? '', hint: t('dns.rr_name_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
    field({ name: 'type', label: t('dns.rr_type'), options: RR_TYPES.map((x) => [x, x]), value: r.type ?? 'A' }),
    field({ name: 'data', label: t('dns.rr_data'), required: true, value: r.data ?? '', hint: t('dns.rr_data_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
    field({ name: 'ttl', label: t('dns.rr_ttl'), type: 'number', inputmode: 'numeric', value: r.ttl ? String(r.ttl) : '', hint: t('dns.rr_ttl_hint') }),
  ];
}
function recordBody(v) {
  checkRecord(v.type, v.data, v.ttl);
  const body = { name: v.name || '@', type: v.type, data: v.data };
  if (v.ttl) body.ttl = Number(v.ttl);
  return body;
}

export async function zone({ params, rerender, go }) {
  const [id, zid] = params;
  const base = `${orgPath(id)}/zones/${enc(zid)}`;
  const [z, records] = await Promise.all([api('GET', base), api('GET', `${base}/records?limit=500`)]);
  const { out } = await orgPage(id, `/orgs/${id}/dns`, z.name);
  const editBox = h('div', {});
  const rows = records.items.map((r) => {
    const edit = h('button', { type: 'button', 'aria-label': t('dns.rr_edit_named', { name: r.name, type: r.type }) }, t('edit'));
    edit.addEventListener('click', () => {
      const rel = r.name === z.name ? '@' : r.name.endsWith(`.${z.name}`) ? r.name.slice(0, -(z.name.length + 1)) : r.name;
      const f = form({
        label: t('dns.rr_edit_named', { name: r.name, type: r.type }),
        fields: recordFields({ ...r, name: rel }),
        submit: t('save'),
        onSubmit: async (v) => {
          await api('PUT', `${base}/records/${enc(r.id)}`, recordBody(v));
          announce(t('saved'));
          rerender();
        },
      });
      editBox.replaceChildren(section(t('dns.rr_edit_named', { name: r.name, type: r.type }), f));
      f.querySelector('input').focus();
    });
    const del = h('button', { type: 'button', class: 'danger', 'aria-label': t('dns.rr_delete_named', { name: r.name, type: r.type }) }, t('delete'));
    del.addEventListener('click', async () => {
      if (!(await confirmDialog({ title: t('delete'), body: t('dns.rr_delete_named', { name: r.name, type: r.type }), confirm: t('delete') }))) return;
      try {
        await api('DELETE', `${base}/records/${enc(r.id)}`);
        announce(t('dns.rr_deleted'));
        rerender();
      } catch (err) {
        announce(err.message);
      }
    });
    return h('tr', {}, h('td', {}, r.name), h('td', {}, r.type), h('td', {}, h('code', {}, r.data)), h('td', {}, String(r.ttl ?? '')),
      h('td', {}, h('div', { class: 'row' }, edit, del)));
  });
  out.append(h('p', {}, h('a', { href: `#/orgs/${id}/dns` }, t('dns.back'))));
  out.append(h('section', { 'aria-labelledby': 'rr-h' }, h('h2', { id: 'rr-h' }, t('dns.records')),
    rows.length ? table([t('dns.rr_name'), t('dns.rr_type'), t('dns.rr_data'), t('dns.rr_ttl'), ''], rows, t('dns.records'))
      : h('p', { class: 'muted' }, t('dns.records_none'))), editBox);
  out.append(section(t('dns.rr_add'), form({
    label: t('dns.rr_add'),
    fields: recordFields(),
    submit: t('dns.rr_add'),
    onSubmit: async (v, el) => {
      await api('POST', `${base}/records`, recordBody(v));
      announce(t('dns.rr_added'));
      el.reset();
      await rerender();
    },
  })));
  const exportLink = h('button', { type: 'button' }, t('dns.export'));
  exportLink.addEventListener('click', async () => {
    try {
      const res = await api('GET', `${base}/export`, undefined, { raw: true });
      downloadBlob(await res.blob(), `${z.name.replace(/\.$/, '')}.zone`);
    } catch (err) {
      announce(err.message);
    }
  });
  const removeZone = h('button', { type: 'button', class: 'danger' }, t('dns.remove_zone'));
  removeZone.addEventListener('click', async () => {
    if (!(await confirmDialog({ title: t('dns.remove_zone'), body: t('dns.remove_zone_body', { name: z.name }), confirm: t('dns.remove_zone') }))) return;
    try {
      await api('DELETE', base);
      announce(t('dns.zone_removed', { name: z.name }));
      go(`/orgs/${id}/dns`);
    } catch (err) {
      announce(err.message);
    }
  });
  out.append(h('div', { class: 'row' }, exportLink, removeZone));
  return out;
}

export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, class: 'sr-only' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

