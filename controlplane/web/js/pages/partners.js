// Partner portal (session-authenticated /api/v1/partners/{partner}/..., docs/partners.md):
// customers, orders, price list and sell prices, EAB credentials, branding editor with a live
// preview, webhooks with their delivery log, API keys, members, commission statements. What a member may do follows their partner role (owner, admin,
// viewer); the API enforces it, the panel only hides what would be refused.
import { h, field, form, checkboxes, announce, confirmDialog, fmtTime } from '../ui.js';
import { t } from '../i18n.js';
import { api, ApiError } from '../api.js';
import { table } from './orgs.js';
import { yen, downloadBlob } from './services.js';

const enc = encodeURIComponent;
const pPath = (id) => `/api/v1/partners/${enc(id)}`;
const WRITERS = new Set(['owner', 'admin']);
const EVENTS = ['service.provisioned', 'service.failed', 'certificate.issued', 'certificate.expiring', 'certificate.failed',
  'invoice.issued', 'invoice.paid', 'organization.suspended'];

function partnerNav(p, here) {
  const link = (href, label) => h('a', { href: `#${href}`, 'aria-current': here === href ? 'page' : null }, label);
  const base = `/partners/${p.id}`;
  const sells = p.channel !== 'agency';
  return h('nav', { class: 'row orgnav', 'aria-label': t('partner.sections') },
    link(base, t('partner.customers')),
    sells ? link(`${base}/orders`, t('pp.orders')) : null,
    link(`${base}/prices`, t('pp.prices')),
    sells ? link(`${base}/branding`, t('partner.branding')) : null,
    link(`${base}/webhooks`, t('partner.webhooks')),
    link(`${base}/keys`, t('pp.keys')),
    link(`${base}/members`, t('pp.members')),
    sells ? null : link(`${base}/commission`, t('partner.commission')));
}

async function partnerPage(id, here, title) {
  const p = await api('GET', pPath(id));
  const out = h('div', {}, h('h1', {}, title ?? p.name), partnerNav(p, here),
    h('p', { class: 'muted' }, t('partner.channel', { channel: p.channel }), ' · ', t('org.your_role'), ' ', h('span', { class: 'badge' }, p.role)));
  return { p, out, writer: WRITERS.has(p.role) };
}

export async function list() {
  const mine = await api('GET', '/api/v1/partners');
  return h('div', {}, h('h1', {}, t('partner.title')), mine.items.length
    ? h('ul', { class: 'orgs' }, mine.items.map((p) => h('li', {}, h('a', { href: `#/partners/${p.id}` }, h('strong', {}, p.name), ' ',
      h('span', { class: 'badge' }, p.channel), ' ', h('span', { class: 'badge' }, p.role)))))
    : h('p', { class: 'muted' }, t('partner.none')));
}

export async function customers({ params, go }) {
  const [id] = params;
  const { p, out, writer } = await partnerPage(id, `/partners/${id}`);
  if (p.channel === 'agency') {
    out.append(h('p', { class: 'muted' }, t('partner.agency_no_customers')));
    return out;
  }
  const list = await api('GET', `${pPath(id)}/customers?limit=200`);
  out.append(h('section', { 'aria-labelledby': 'c-h' }, h('h2', { id: 'c-h' }, t('partner.customers')), list.items.length
    ? table([t('f.org_name'), t('org.status'), t('partner.created')], list.items.map((c) => h('tr', {},
      h('td', {}, h('a', { href: `#/partners/${id}/customers/${c.id}` }, c.name)),
      h('td', {}, h('span', { class: c.status === 'active' ? 'badge ok' : 'badge bad' }, c.status)),
      h('td', { class: 'nowrap' }, fmtTime(c.created_at)))), t('partner.customers'))
    : h('p', { class: 'muted' }, t('partner.no_customers'))));
  if (writer) {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('partner.add_customer')), form({
      label: t('partner.add_customer'),
      fields: [field({ name: 'name', label: t('f.org_name'), required: true, autocomplete: 'off' })],
      submit: t('partner.add_customer'),
      onSubmit: async (v) => {
        const c = await api('POST', `${pPath(id)}/customers`, { name: v.name });
        announce(t('partner.customer_added', { name: c.name }));
        go(`/partners/${id}/customers/${c.id}`);
      },
    })));
  }
  return out;
}

export async function customer({ params, rerender }) {
  const [id, cid] = params;
  const c = await api('GET', `${pPath(id)}/customers/${enc(cid)}`);
  const { out, writer } = await partnerPage(id, `/partners/${id}`, c.name);
  out.append(h('p', {}, h('a', { href: `#/partners/${id}` }, t('partner.back'))));
  out.append(h('p', {}, t('org.status'), ' ', h('span', { class: c.status === 'active' ? 'badge ok' : 'badge bad' }, c.status)));
  const [keys, certs] = await Promise.all([
    api('GET', `${pPath(id)}/customers/${enc(cid)}/eab-keys`).catch(() => ({ items: [] })),
    api('GET', `${pPath(id)}/customers/${enc(cid)}/certificates`).catch(() => ({ items: [] }))]);
  const shown = h('div', { 'aria-live': 'polite' });
  out.append(h('section', { 'aria-labelledby': 'eab-h' }, h('h2', { id: 'eab-h' }, t('partner.eab')), keys.items.length
    ? table([t('partner.kid'), t('partner.created'), t('f.expires_at'), t('partner.bound'), t('plans.state')], keys.items.map((k) => h('tr', {},
      h('td', {}, h('code', {}, k.kid)), h('td', { class: 'nowrap' }, fmtTime(k.created_at)), h('td', { class: 'nowrap' }, fmtTime(k.expires_at)),
      h('td', { class: 'nowrap' }, k.bound_at ? fmtTime(k.bound_at) : '—'), h('td', {}, h('span', { class: k.state === 'unused' ? 'badge ok' : 'badge' }, k.state)))), t('partner.eab'))
    : h('p', { class: 'muted' }, t('partner.eab_none')), shown));
  if (writer) {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('partner.eab_mint')), h('p', { class: 'hint' }, t('partner.eab_hint')), form({
      label: t('partner.eab_mint'),
      fields: [field({ name: 'expires_in_days', label: t('partner.eab_days'), type: 'number', inputmode: 'numeric', value: '7', required: true })],
      submit: t('partner.eab_mint'),
      onSubmit: async (v) => {
        if (!/^\d+$/.test(v.expires_in_days) || Number(v.expires_in_days) < 1) throw new ApiError(400, { field: 'expires_in_days', detail: t('v.positive') });
        const k = await api('POST', `${pPath(id)}/customers/${enc(cid)}/eab-keys`, { expires_in_days: Number(v.expires_in_days) });
        shown.replaceChildren(h('section', { class: 'card once', 'aria-labelledby': 'eab-new' },
          h('h3', { id: 'eab-new' }, t('partner.eab_created')), h('p', {}, t('tokens.once')),
          h('p', {}, t('partner.kid'), ': ', h('code', { 'data-testid': 'eab-kid' }, k.kid)),
          h('p', {}, t('partner.hmac'), ': ', h('code', { class: 'secret', 'data-testid': 'eab-hmac' }, k.hmac_key || k.hmac || ''))));
        announce(t('partner.eab_created'));
      },
    })));
  }
  // Orders (subscriptions at the partner's sell price) and the customer's invoices.
  const [subs, invs] = await Promise.all([
    api('GET', `${pPath(id)}/customers/${enc(cid)}/subscriptions`).catch(() => ({ items: [] })),
    api('GET', `${pPath(id)}/customers/${enc(cid)}/invoices`).catch(() => ({ items: [] }))]);
  out.append(h('section', { 'aria-labelledby': 'po-h' }, h('h2', { id: 'po-h' }, t('partner.orders')), subs.items.length
    ? table([t('plans.product'), t('plans.period'), t('plans.price'), t('plans.state'), ''], subs.items.map((x) => {
      const cancel = writer && x.state === 'active' && !x.cancel_at_period_end
        ? h('button', { type: 'button', class: 'danger', 'aria-label': t('partner.cancel_named', { product: x.product }) }, t('partner.cancel')) : null;
      cancel?.addEventListener('click', async () => {
        if (!(await confirmDialog({ title: t('partner.cancel'), body: t('partner.cancel_body', { product: x.product }), confirm: t('partner.cancel') }))) return;
        try {
          await api('POST', `${pPath(id)}/customers/${enc(cid)}/subscriptions/${enc(x.id)}/cancel`, {});
          announce(t('saved'));
          rerender();
        } catch (err) {
          announce(err.message);
        }
      });
      return h('tr', {}, h('td', {}, x.product), h('td', {}, t(`period.${x.period}`)), h('td', { class: 'nowrap' }, yen(x.period_price)),
        h('td', {}, x.cancel_at_period_end ? t('partner.ends', { date: x.current_period?.end || '' }) : x.state), h('td', {}, cancel));
    }), t('partner.orders'))
    : h('p', { class: 'muted' }, t('partner.no_orders'))));
  if (writer) {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('partner.order')), form({
      label: t('partner.order'),
      fields: [field({ name: 'product', label: t('partner.product_code'), required: true, autocomplete: 'off', hint: t('partner.product_hint'), attrs: { spellcheck: 'false', autocapitalize: 'off' } }),
        field({ name: 'period', label: t('plans.period'), options: [['monthly', t('period.monthly')], ['yearly', t('period.yearly')]], value: 'monthly' })],
      submit: t('partner.order'),
      onSubmit: async (v) => {
        const sub = await api('POST', `${pPath(id)}/customers/${enc(cid)}/subscriptions`, { product: v.product, period: v.period });
        announce(t('plans.ordered', { name: sub.product }));
        await rerender();
      },
    })));
  }
  out.append(h('section', { 'aria-labelledby': 'pi-h' }, h('h2', { id: 'pi-h' }, t('billing.invoices')), invs.items.length
    ? table([t('inv.number'), t('inv.issued'), t('inv.total'), t('inv.status')], invs.items.map((i) => h('tr', {},
      h('td', {}, i.number), h('td', { class: 'nowrap' }, i.issue_date), h('td', { class: 'nowrap' }, yen(i.total)), h('td', {}, t(`inv.status.${i.status}`)))), t('billing.invoices'))
    : h('p', { class: 'muted' }, t('billing.none'))));
  out.append(h('section', { 'aria-labelledby': 'pc-h' }, h('h2', { id: 'pc-h' }, t('certs.title')), certs.items.length
    ? table([t('sites.domain'), t('certs.expires'), t('plans.state')], certs.items.map((x) => h('tr', {},
      h('td', {}, (x.names || x.domains || [x.domain]).filter(Boolean).join(', ')), h('td', { class: 'nowrap' }, fmtTime(x.not_after)),
      h('td', {}, x.status || ''))), t('certs.title'))
    : h('p', { class: 'muted' }, t('certs.none'))));
  out.append(await customerServices(id, cid, writer, rerender));
  if (writer) {
    const act = (key, path, body) => {
      const b = h('button', { type: 'button', class: key === 'partner.terminate' ? 'danger' : '' }, t(key));
      b.addEventListener('click', async () => {
        if (!(await confirmDialog({ title: t(key), body: t('partner.confirm', { action: t(key), name: c.name }), confirm: t(key) }))) return;
        try {
          await api('POST', `${pPath(id)}/customers/${enc(cid)}/${path}`, body);
          announce(t('saved'));
          rerender();
        } catch (err) {
          announce(err.message);
        }
      });
      return b;
    };
    out.append(h('div', { class: 'row' }, c.status === 'active' ? act('partner.suspend', 'suspend', { reason: 'partner' })
      : c.status === 'suspended' ? act('partner.unsuspend', 'unsuspend', {}) : null,
    c.status !== 'terminated' ? act('partner.terminate', 'terminate', {}) : null));
  }
  return out;
}

// The customer's sites and VPS (the VPS page is the customer's own, opened as a partner operator:
// power, resize, rebuild, snapshots) and the certificates of its site names, each re-issued on
// demand through the partner API (AutoSSL).
async function customerServices(id, cid, writer, rerender) {
  const base = `${pPath(id)}/customers/${enc(cid)}`;
  const [svc, certs] = await Promise.all([api('GET', `${base}/services`).catch(() => ({})),
    api('GET', `${base}/site-certificates`).catch(() => ({ items: [] }))]);
  const sec = h('section', { 'aria-labelledby': 'ps-h', 'data-testid': 'customer-services' }, h('h2', { id: 'ps-h' }, t('pp.services')));
  const sites = svc.sites || [], vps = svc.vps || [];
  sec.append(h('h3', {}, t('pp.sites')), sites.length
    ? table([t('sites.domain'), t('plans.state')], sites.map((x) => h('tr', { 'data-site': x.id }, h('td', {}, x.domain), h('td', {}, x.state))), t('pp.sites'))
    : h('p', { class: 'muted' }, t('pp.sites_none')));
  sec.append(h('h3', {}, t('vps.title')), vps.length
    ? table([t('vps.hostname'), t('vps.state'), t('vps.plan')], vps.map((v) => h('tr', { 'data-vps': v.id },
      h('td', {}, h('a', { href: `#/orgs/${cid}/vps/${v.id}`, 'aria-label': t('pp.vps_open', { name: v.hostname }) }, v.hostname)), h('td', {}, v.state),
      h('td', {}, v.plan ? t('vps.plan_text', v.plan) : ''))), t('vps.title'))
    : h('p', { class: 'muted' }, t('vps.none')));
  if (vps.length) sec.append(h('p', { class: 'hint' }, t('pp.vps_hint')));
  const rows = certs.items.map((x) => {
    const issue = writer && x.source !== 'upload' ? h('button', { type: 'button', 'aria-label': t('pp.cert_issue_named', { name: x.domain }) }, t('pp.cert_issue')) : null;
    issue?.addEventListener('click', async () => {
      try {
        await api('POST', `${base}/sites/${enc(x.site_id)}/certificates`, { domain: x.domain });
        announce(t('pp.cert_requested', { name: x.domain }));
        await rerender();
      } catch (err) {
        announce(err.message);
      }
    });
    return h('tr', { 'data-cert': x.domain }, h('td', {}, x.domain),
      h('td', {}, h('span', { class: x.status === 'valid' ? 'badge ok' : x.status === 'failed' ? 'badge bad' : 'badge', 'data-status': x.status }, x.status)),
      h('td', { class: 'nowrap' }, x.not_after ? fmtTime(typeof x.not_after === 'number' ? x.not_after * 1000 : x.not_after) : '—'),
      h('td', {}, x.last_error || ''), h('td', {}, issue));
  });
  sec.append(h('h3', {}, t('pp.site_certs')), rows.length
    ? table([t('sites.domain'), t('plans.state'), t('certs.expires'), t('pp.cert_error'), ''], rows, t('pp.site_certs'))
    : h('p', { class: 'muted' }, t('certs.none')));
  return sec;
}

const BRAND_FIELDS = [
  ['brand_name', true], ['logo_url', false], ['primary_color', false], ['accent_color', false], ['panel_host', false],
  ['support_email', false], ['support_url', false], ['mail_from_name', false], ['mail_from_address', false],
  ['website_url', false], ['terms_of_service_url', false],
];
const ISSUER_FIELDS = ['name', 'address', 'registration_number', 'email', 'phone'];

export async function branding({ params, rerender }) {
  const [id] = params;
  const { out, writer } = await partnerPage(id, `/partners/${id}/branding`, t('partner.branding'));
  const b = await api('GET', `${pPath(id)}/branding`).catch((err) => { if (err.status === 404) return {}; throw err; });
  // Live preview: the panel header and a button as the partner's customers will see them.
  const pvName = h('span', { 'data-testid': 'preview-name' });
  const pvLogo = h('span', { class: 'muted', 'data-testid': 'preview-logo' });
  const pvButton = h('span', { class: 'preview-button' }, t('partner.preview_button'));
  const pvSupport = h('p', { class: 'muted' });
  const preview = h('section', { class: 'card preview', 'aria-labelledby': 'pv-h' }, h('h2', { id: 'pv-h' }, t('partner.preview')),
    h('div', { class: 'preview-top' }, pvLogo, ' ', pvName), h('p', {}, pvButton), pvSupport);
  const colorOk = (c) => /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(c);
  const paint = (f) => {
    const v = (n) => f.elements[n]?.value.trim() || '';
    pvName.textContent = v('brand_name') || t('partner.brand_unset');
    const logo = v('logo_url');
    // The logo's address (this page may load images only from itself; the OEM's host allows its logo).
    pvLogo.textContent = /^https:\/\/[^\s"'<>]+$/.test(logo) ? t('partner.preview_logo', { url: logo }) : t('partner.preview_nologo');
    // CSSOM (not a style attribute), which the panel's CSP allows.
    pvButton.style.setProperty('--pv-accent', colorOk(v('primary_color')) ? v('primary_color') : '#1d4ed8');
    preview.style.setProperty('--pv-border', colorOk(v('accent_color')) ? v('accent_color') : '#d1d5db');
    pvSupport.textContent = v('support_email') ? t('partner.preview_support', { email: v('support_email') }) : '';
  };
  const fields = BRAND_FIELDS.map(([name, required]) => field({ name, label: t(`brand.${name}`), required, value: b[name] || '',
    hint: t(`brand.${name}.hint`), attrs: { spellcheck: 'false', autocapitalize: 'off', ...(writer ? {} : { readonly: true }) } }));
  const issuer = h('fieldset', {}, h('legend', {}, t('brand.invoice_issuer')),
    ISSUER_FIELDS.map((n) => field({ name: `invoice_issuer.${n}`, label: t(`brand.issuer.${n}`), value: b.invoice_issuer?.[n] || '',
      attrs: writer ? {} : { readonly: true } })));
  const f = form({
    label: t('partner.branding'),
    fields: [...fields, issuer],
    submit: t('save'),
    onSubmit: async (v) => {
      for (const c of ['primary_color', 'accent_color']) {
        if (v[c] && !colorOk(v[c])) throw new ApiError(400, { field: c, detail: t('v.color') });
      }
      for (const u of ['logo_url', 'support_url', 'website_url', 'terms_of_service_url']) {
        if (v[u] && !/^https:\/\/\S+$/.test(v[u])) throw new ApiError(400, { field: u, detail: t('v.https_url') });
      }
      const body = {};
      for (const [n] of BRAND_FIELDS) body[n] = v[n];
      body.invoice_issuer = Object.fromEntries(ISSUER_FIELDS.map((n) => [n, v[`invoice_issuer.${n}`]]));
      await api('PUT', `${pPath(id)}/branding`, body);
      announce(t('partner.branding_saved'));
      rerender();
    },
  });
  f.addEventListener('input', () => paint(f));
  paint(f);
  if (!writer) f.querySelector('button[type=submit]').remove();
  out.append(h('div', { class: 'grid2' }, h('section', { class: 'card' }, f), preview));
  return out;
}

export async function webhooks({ params, rerender }) {
  const [id] = params;
  const { out, writer } = await partnerPage(id, `/partners/${id}/webhooks`, t('partner.webhooks'));
  const list = await api('GET', `${pPath(id)}/webhooks`);
  const shown = h('div', { 'aria-live': 'polite' });
  const log = h('div', { 'aria-live': 'polite' });
  const showDeliveries = async (w) => {
    const d = await api('GET', `${pPath(id)}/webhooks/${enc(w.id)}/deliveries`);
    const rows = d.items.map((x) => {
      const attemptsBtn = h('button', { type: 'button', 'aria-label': t('partner.attempts_of', { id: x.id }) }, t('partner.attempts'));
      const cell = h('td', {}, attemptsBtn);
      attemptsBtn.addEventListener('click', async () => {
        const a = await api('GET', `${pPath(id)}/deliveries/${enc(x.id)}/attempts`);
        cell.replaceChildren(h('ul', { class: 'plain' }, a.items.map((at) => h('li', {}, fmtTime(at.at || at.created_at), ' — HTTP ',
          String(at.status ?? at.http_status ?? '—'), at.error ? ` (${at.error})` : ''))));
      });
      const redeliver = h('button', { type: 'button', 'aria-label': t('partner.redeliver_of', { id: x.id }) }, t('partner.redeliver'));
      redeliver.addEventListener('click', async () => {
        try {
          await api('POST', `${pPath(id)}/deliveries/${enc(x.id)}/redeliver`, {});
          announce(t('partner.redelivered'));
          await showDeliveries(w);
        } catch (err) {
          announce(err.message);
        }
      });
      return h('tr', {}, h('td', {}, h('code', {}, x.event_type || x.type || '')), h('td', {}, h('span', { class: ['delivered', 'succeeded'].includes(x.state) ? 'badge ok' : x.state === 'failed' ? 'badge bad' : 'badge' }, x.state || '')),
        h('td', {}, String(x.attempts ?? '')), h('td', { class: 'nowrap' }, fmtTime(x.created_at)), cell, h('td', {}, writer ? redeliver : ''));
    });
    log.replaceChildren(h('section', { 'aria-labelledby': 'dl-h' }, h('h2', { id: 'dl-h' }, t('partner.deliveries_of', { url: w.url })),
      rows.length ? table([t('partner.event'), t('plans.state'), t('partner.attempts'), t('partner.created'), t('partner.attempts'), ''], rows, t('partner.deliveries'))
        : h('p', { class: 'muted' }, t('partner.no_deliveries'))));
  };
  out.append(h('section', { 'aria-labelledby': 'wh-h' }, h('h2', { id: 'wh-h' }, t('partner.webhooks')), list.items.length
    ? table(['URL', t('partner.events'), t('partner.created'), ''], list.items.map((w) => {
      const show = h('button', { type: 'button', 'aria-label': t('partner.deliveries_of', { url: w.url }) }, t('partner.deliveries'));
      show.addEventListener('click', () => showDeliveries(w).catch((e) => announce(e.message)));
      const del = h('button', { type: 'button', class: 'danger', 'aria-label': t('partner.webhook_delete', { url: w.url }) }, t('delete'));
      del.addEventListener('click', async () => {
        if (!(await confirmDialog({ title: t('delete'), body: t('partner.webhook_delete', { url: w.url }), confirm: t('delete') }))) return;
        try { await api('DELETE', `${pPath(id)}/webhooks/${enc(w.id)}`); rerender(); } catch (err) { announce(err.message); }
      });
      return h('tr', {}, h('td', {}, h('code', {}, w.url)), h('td', {}, (w.events || []).join(', ')), h('td', { class: 'nowrap' }, fmtTime(w.created_at)),
        h('td', {}, h('div', { class: 'row' }, show, writer ? del : null)));
    }), t('partner.webhooks'))
    : h('p', { class: 'muted' }, t('partner.no_webhooks')), shown, log));
  if (writer) {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('partner.webhook_add')), form({
      label: t('partner.webhook_add'),
      fields: [field({ name: 'url', label: 'URL', type: 'url', required: true, hint: t('partner.webhook_url_hint'), attrs: { spellcheck: 'false' } }),
        checkboxes({ name: 'events', legend: t('partner.events'), items: EVENTS.map((e) => [e, e, true]) })],
      submit: t('partner.webhook_add'),
      onSubmit: async (v) => {
        if (!/^https?:\/\/\S+$/.test(v.url)) throw new ApiError(400, { field: 'url', detail: t('v.https_url') });
        if (!v.events.length) throw new ApiError(400, { field: 'events', detail: t('v.events') });
        const w = await api('POST', `${pPath(id)}/webhooks`, { url: v.url, events: v.events });
        await rerender();
        const box = document.querySelector('[data-secret-box]');
        (box || shown).replaceChildren(h('section', { class: 'card once' }, h('h3', {}, t('partner.webhook_secret')), h('p', {}, t('tokens.once')),
          h('code', { class: 'secret', 'data-testid': 'webhook-secret' }, w.secret || w.signing_secret || '')));
      },
    })));
  }
  shown.setAttribute('data-secret-box', '');
  return out;
}

export async function commission({ params, rerender }) {
  const [id] = params;
  const { out, writer } = await partnerPage(id, `/partners/${id}/commission`, t('partner.commission'));
  const now = new Date();
  const month = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  const result = h('div', { 'aria-live': 'polite' });
  const load = async (m) => {
    const st = await api('GET', `${pPath(id)}/commission-statements?month=${enc(m)}`);
    const lines = st.lines || [];
    result.replaceChildren(
      h('p', { class: 'muted' }, t('partner.rate', { rate: ((st.current_rate_bp || 0) / 100).toFixed(2) }), ' · ',
        t('partner.period', { start: st.period?.start || '', end: st.period?.end || '' })),
      lines.length
        ? table([t('partner.date'), t('f.org_name'), t('inv.number'), t('inv.kind'), t('partner.base'), t('partner.rate_col'), t('inv.amount')],
          lines.map((l) => h('tr', {}, h('td', { class: 'nowrap' }, l.date), h('td', {}, l.customer_name || l.organization_id),
            h('td', {}, l.document_number || l.invoice_number || ''), h('td', {}, l.kind),
            h('td', { class: 'nowrap' }, yen(l.base)), h('td', {}, `${(l.rate_bp / 100).toFixed(2)}%`), h('td', { class: 'nowrap' }, yen(l.amount)))),
          t('partner.commission'))
        : h('p', { class: 'muted' }, t('partner.no_commission')),
      h('dl', { class: 'facts', 'data-testid': 'commission-totals' },
        h('dt', {}, t('partner.base')), h('dd', {}, yen(st.base_total)),
        h('dt', {}, t('partner.commission')), h('dd', {}, yen(st.commission_total)),
        h('dt', {}, t('partner.reversals')), h('dd', {}, yen(st.reversal_total)),
        h('dt', {}, t('partner.net')), h('dd', {}, h('strong', {}, yen(st.net))),
        h('dt', {}, t('pp.st_status')), h('dd', {}, h('span', { class: st.status === 'paid' ? 'badge ok' : st.status === 'unpaid' ? 'badge bad' : 'badge',
          'data-testid': 'commission-status', 'data-status': st.status || '' }, st.status ? t(`pp.st.${st.status}`) : '—')),
        st.payout ? h('dt', {}, t('pp.payout')) : null,
        st.payout ? h('dd', { 'data-testid': 'commission-payout' }, t('pp.payout_on', { date: fmtTime(st.payout.paid_at), reference: st.payout.reference }),
          ' · ', yen(st.payout.amount)) : null));
  };
  const f = form({
    label: t('partner.commission'),
    fields: [field({ name: 'month', label: t('partner.month'), type: 'month', value: month, required: true })],
    submit: t('partner.show'),
    onSubmit: async (v) => {
      if (!/^\d{4}-\d{2}$/.test(v.month)) throw new ApiError(400, { field: 'month', detail: t('v.month') });
      await load(v.month);
    },
  });
  const csv = h('button', { type: 'button' }, t('partner.commission_csv'));
  csv.addEventListener('click', async () => {
    try {
      const m = f.elements.month.value;
      const res = await api('GET', `${pPath(id)}/commission-statements?month=${enc(m)}&format=csv`, undefined, { raw: true });
      downloadBlob(await res.blob(), `commission-${m}.csv`);
    } catch (err) {
      announce(err.message);
    }
  });
  f.querySelector('.row').append(csv);
  out.append(h('section', { class: 'card' }, f), result);
  await load(month).catch((err) => result.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, err.message)));
  out.append(await referrals(id, writer, rerender));
  return out;
}

// The agency's referral codes (billing's Commissions) with a sign-up link carrying each code.
async function referrals(id, writer, rerender) {
  const list = await api('GET', `${pPath(id)}/referral-codes`);
  const rows = list.items.map((r) => h('tr', { 'data-code': r.code }, h('td', {}, h('code', {}, r.code)),
    h('td', {}, h('input', { type: 'text', readonly: '', value: r.signup_url, 'aria-label': t('pp.ref_link') + ' ' + r.code,
      'data-testid': 'referral-link', class: 'wide' })),
    h('td', { class: 'nowrap' }, fmtTime(r.created_at)), h('td', {}, String(r.redemptions))));
  const sec = h('section', { 'aria-labelledby': 'rf-h', 'data-testid': 'referrals' }, h('h2', { id: 'rf-h' }, t('pp.referrals')),
    h('p', { class: 'hint' }, t('pp.referrals_doc')),
    rows.length ? table([t('pp.ref_code'), t('pp.ref_link'), t('partner.created'), t('pp.ref_redemptions')], rows, t('pp.referrals'))
      : h('p', { class: 'muted' }, t('pp.ref_none')));
  if (writer) {
    const mint = h('button', { type: 'button' }, t('pp.ref_mint'));
    mint.addEventListener('click', async () => {
      try {
        const r = await api('POST', `${pPath(id)}/referral-codes`, {});
        await rerender();
        announce(t('pp.ref_minted', { code: r.code }));
      } catch (err) {
        announce(err.message);
      }
    });
    sec.append(h('div', { class: 'row' }, mint));
  }
  return sec;
}

// Recent orders of all the partner's customers.
export async function orders({ params }) {
  const [id] = params;
  const { p, out } = await partnerPage(id, `/partners/${id}/orders`, t('pp.orders'));
  if (p.channel === 'agency') {
    out.append(h('p', { class: 'muted' }, t('partner.agency_no_customers')));
    return out;
  }
  const list = await api('GET', `${pPath(id)}/orders?limit=100`);
  out.append(h('section', { 'aria-labelledby': 'or-h' }, h('h2', { id: 'or-h' }, t('pp.orders_title')), list.items.length
    ? table([t('pp.customer'), t('plans.product'), t('plans.period'), t('plans.price'), t('plans.state'), t('pp.ordered_on')], list.items.map((x) => h('tr', {},
      h('td', {}, h('a', { href: `#/partners/${id}/customers/${x.customer.id}` }, x.customer.name)),
      h('td', {}, h('code', {}, x.product)), h('td', {}, t(`period.${x.period}`)), h('td', { class: 'nowrap' }, yen(x.period_price)),
      h('td', {}, x.cancel_at_period_end ? t('partner.ends', { date: x.current_period?.end || '' }) : x.state),
      h('td', { class: 'nowrap' }, x.ordered_on))), t('pp.orders_title'))
    : h('p', { class: 'muted' }, t('pp.orders_none'))));
  return out;
}

const todayUtc = () => new Date().toISOString().slice(0, 10);

// The catalog as the partner sees it: list price; resellers/OEMs also their buy (wholesale) and
// sell prices and the margin, and owners/admins set sell prices from a day on.
export async function prices({ params, rerender }) {
  const [id] = params;
  const { p, out, writer } = await partnerPage(id, `/partners/${id}/prices`, t('pp.prices'));
  const pl = await api('GET', `${pPath(id)}/price-list`);
  const sells = p.channel !== 'agency';
  out.append(h('p', { class: 'muted' }, t('pp.date_note', { date: pl.date })));
  if (!sells) {
    out.append(h('p', { 'data-testid': 'commission-rate' }, pl.commission_bp == null ? t('pp.commission_unset')
      : t('pp.commission', { rate: (pl.commission_bp / 100).toFixed(2) })), h('p', { class: 'muted' }, t('pp.agency_note')));
  }
  const name = (i) => h('td', {}, i.name, ' ', h('code', {}, i.product));
  const head = sells ? [t('pp.product'), t('plans.period'), t('pp.list'), t('pp.wholesale'), t('pp.sell'), t('pp.margin'), t('pp.next')]
    : [t('pp.product'), t('plans.period'), t('pp.list')];
  const rows = pl.items.map((i) => h('tr', { 'data-product': i.product, 'data-period': i.period }, name(i), h('td', {}, t(`period.${i.period}`)),
    h('td', { class: 'nowrap' }, yen(i.list_price)),
    sells ? [h('td', { class: 'nowrap' }, yen(i.wholesale_price)),
      h('td', { class: 'nowrap' }, i.sell ? [yen(i.sell.price), ' ', h('span', { class: 'muted' }, t('pp.since', { date: i.sell.effective_from }))]
        : h('span', { class: 'muted' }, t('pp.not_sold'))),
      h('td', { class: 'nowrap', 'data-testid': `margin-${i.product}-${i.period}` }, i.margin == null ? '—' : yen(i.margin)),
      h('td', { class: 'nowrap' }, i.next_sell ? t('pp.from', { price: yen(i.next_sell.price), date: i.next_sell.effective_from }) : '—')] : null));
  out.append(h('section', { 'aria-labelledby': 'pl-h' }, h('h2', { id: 'pl-h' }, t('pp.prices')),
    rows.length ? table(head, rows, t('pp.prices')) : h('p', { class: 'muted' }, t('plans.empty_catalog'))));
  if (sells && writer && pl.items.length) {
    const codes = [...new Map(pl.items.map((i) => [i.product, `${i.name} (${i.product})`])).entries()];
    const byKey = new Map(pl.items.map((i) => [`${i.product}|${i.period}`, i]));
    out.append(h('section', { class: 'card' }, h('h2', {}, t('pp.set_price')), h('p', { class: 'hint' }, t('pp.set_price_hint')), form({
      label: t('pp.set_price'),
      fields: [field({ name: 'product', label: t('pp.f.product'), options: codes, value: codes[0][0], required: true }),
        field({ name: 'period', label: t('pp.f.period'), options: [['monthly', t('period.monthly')], ['yearly', t('period.yearly')]], value: 'monthly' }),
        field({ name: 'price', label: t('pp.f.price'), inputmode: 'numeric', required: true, autocomplete: 'off' }),
        field({ name: 'setup_fee', label: t('pp.f.setup_fee'), inputmode: 'numeric', autocomplete: 'off', value: '0' }),
        field({ name: 'effective_from', label: t('pp.f.effective_from'), type: 'date', value: todayUtc(), required: true })],
      submit: t('pp.set_price'),
      onSubmit: async (v) => {
        for (const f of ['price', 'setup_fee']) {
          if (v[f] !== '' && !/^\d+$/.test(v[f])) throw new ApiError(400, { field: f, detail: t('pp.v.yen') });
        }
        if (!/^\d{4}-\d{2}-\d{2}$/.test(v.effective_from)) throw new ApiError(400, { field: 'effective_from', detail: t('pp.v.date') });
        const item = byKey.get(`${v.product}|${v.period}`);
        if (item && Number(v.price) < item.wholesale_price) {
          throw new ApiError(400, { field: 'price', detail: t('pp.v.below', { price: yen(item.wholesale_price) }) });
        }
        const r = await api('POST', `${pPath(id)}/sell-prices`, { product: v.product, period: v.period, price: Number(v.price),
          setup_fee: Number(v.setup_fee || 0), effective_from: v.effective_from });
        announce(t('pp.price_saved', { product: r.product, price: yen(r.price), date: r.effective_from }));
        await rerender();
      },
    })));
  }
  return out;
}

// The partner's HMAC API keys for /partner/v1: created by owners/admins (secret shown once),
// rotated with an overlap, revoked at once.
export async function keys({ params, rerender }) {
  const [id] = params;
  const { out, writer } = await partnerPage(id, `/partners/${id}/keys`, t('pp.keys'));
  const list = await api('GET', `${pPath(id)}/keys`);
  const shown = h('div', { 'aria-live': 'polite', 'data-key-secret-box': '' });
  const showSecret = (k, title) => {
    const box = document.querySelector('[data-key-secret-box]') || shown;
    box.replaceChildren(h('section', { class: 'card once', 'aria-labelledby': 'key-new' },
      h('h3', { id: 'key-new' }, title), h('p', {}, t('tokens.once')),
      h('p', {}, t('pp.key_id'), ': ', h('code', { 'data-testid': 'key-id' }, k.id)),
      h('p', {}, t('pp.key_secret'), ': ', h('code', { class: 'secret', 'data-testid': 'key-secret' }, k.secret))));
  };
  const state = (k) => (k.revoked_at ? h('span', { class: 'badge bad' }, t('pp.key_revoked'))
    : k.expires_at ? h('span', { class: 'badge' }, t('pp.key_rotated', { date: fmtTime(k.expires_at) }))
      : h('span', { class: 'badge ok' }, t('pp.key_active')));
  const rows = list.items.map((k) => {
    const live = !k.revoked_at;
    const rotate = writer && live && !k.replaced_by ? h('button', { type: 'button', 'aria-label': t('pp.key_rotate_named', { id: k.id }) }, t('pp.key_rotate')) : null;
    const revoke = writer && live ? h('button', { type: 'button', class: 'danger', 'aria-label': t('pp.key_revoke_named', { id: k.id }) }, t('pp.key_revoke')) : null;
    rotate?.addEventListener('click', async () => {
      if (!(await confirmDialog({ title: t('pp.key_rotate'), body: t('pp.key_rotate_body', { id: k.id }), confirm: t('pp.key_rotate'), danger: false }))) return;
      try {
        const n = await api('POST', `${pPath(id)}/keys/${enc(k.id)}/rotate`, { overlap_seconds: 86400 });
        await rerender();
        showSecret(n, t('pp.key_rotated_msg', { id: k.id, new: n.id }));
        announce(t('pp.key_rotated_msg', { id: k.id, new: n.id }));
      } catch (err) {
        announce(err.message);
      }
    });
    revoke?.addEventListener('click', async () => {
      if (!(await confirmDialog({ title: t('pp.key_revoke'), body: t('pp.key_revoke_body', { id: k.id }), confirm: t('pp.key_revoke') }))) return;
      try {
        await api('DELETE', `${pPath(id)}/keys/${enc(k.id)}`);
        announce(t('pp.key_revoked_msg', { id: k.id }));
        await rerender();
      } catch (err) {
        announce(err.message);
      }
    });
    return h('tr', { 'data-key': k.id }, h('td', {}, h('code', {}, k.id)), h('td', {}, k.name || '—'), h('td', { class: 'nowrap' }, fmtTime(k.created_at)),
      h('td', { class: 'nowrap' }, k.last_used_at ? fmtTime(k.last_used_at) : t('pp.never')), h('td', {}, state(k)),
      h('td', {}, h('div', { class: 'row' }, rotate, revoke)));
  });
  out.append(h('section', { 'aria-labelledby': 'ky-h' }, h('h2', { id: 'ky-h' }, t('pp.keys_title')), h('p', { class: 'hint' }, t('pp.keys_doc')),
    rows.length ? table([t('pp.key_id'), t('pp.key_name'), t('partner.created'), t('pp.key_last_used'), t('pp.key_state'), ''], rows, t('pp.keys_title'))
      : h('p', { class: 'muted' }, t('pp.keys_none')), shown));
  if (writer) {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('pp.key_create')), form({
      label: t('pp.key_create'),
      fields: [field({ name: 'name', label: t('pp.key_name'), required: true, autocomplete: 'off', hint: t('pp.key_name_hint') })],
      submit: t('pp.key_create'),
      onSubmit: async (v) => {
        const k = await api('POST', `${pPath(id)}/keys`, { name: v.name });
        await rerender();
        showSecret(k, t('pp.key_created', { id: k.id }));
        announce(t('pp.key_created', { id: k.id }));
      },
    })));
  }
  return out;
}

// Partner members and their roles: owners add (by e-mail of an existing account), change roles
// and remove; admins see the list; viewers are told who can.
export async function members({ params, rerender }) {
  const [id] = params;
  const { p, out, writer } = await partnerPage(id, `/partners/${id}/members`, t('pp.members'));
  if (!writer) {
    out.append(h('p', { class: 'muted' }, t('pp.members_viewer')));
    return out;
  }
  const owner = p.role === 'owner';
  const [list, me] = await Promise.all([api('GET', `${pPath(id)}/members`), api('GET', '/api/v1/me').catch(() => ({}))]);
  const myId = me.user?.id ?? me.id;
  const roles = ['owner', 'admin', 'viewer'].map((r) => [r, t(`pp.role.${r}`)]);
  const rows = list.items.map((m) => {
    const self = m.user_id === myId;
    const remove = owner && !self ? h('button', { type: 'button', class: 'danger', 'aria-label': t('pp.member_remove_named', { email: m.email }) }, t('pp.member_remove')) : null;
    remove?.addEventListener('click', async () => {
      if (!(await confirmDialog({ title: t('pp.member_remove'), body: t('pp.member_remove_body', { email: m.email }), confirm: t('pp.member_remove') }))) return;
      try {
        await api('DELETE', `${pPath(id)}/members/${enc(m.user_id)}`);
        announce(t('pp.member_removed', { email: m.email }));
        await rerender();
      } catch (err) {
        announce(err.message);
      }
    });
    return h('tr', {}, h('td', {}, m.email, self ? [' ', h('span', { class: 'muted' }, t('pp.you'))] : null), h('td', {}, m.name || '—'),
      h('td', {}, h('span', { class: 'badge' }, t(`pp.role.${m.role}`))), h('td', { class: 'nowrap' }, fmtTime(m.created_at)), h('td', {}, remove));
  });
  out.append(h('section', { 'aria-labelledby': 'mb-h' }, h('h2', { id: 'mb-h' }, t('pp.members_title')),
    table([t('f.email'), t('pp.key_name'), t('f.role'), t('pp.member_since'), ''], rows, t('pp.members_title'))));
  const pending = list.invitations || [];
  if (pending.length) {
    out.append(h('section', { 'aria-labelledby': 'pi-h' }, h('h2', { id: 'pi-h' }, t('pp.invitations')),
      table([t('f.email'), t('f.role'), t('f.expires_at')], pending.map((x) => h('tr', {}, h('td', {}, x.email),
        h('td', {}, h('span', { class: 'badge' }, t(`pp.role.${x.role}`))), h('td', { class: 'nowrap' }, fmtTime(x.expires_at)))), t('pp.invitations'))));
  }
  if (owner) {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('pp.member_add')), form({
      label: t('pp.member_add'),
      fields: [field({ name: 'email', label: t('f.email'), type: 'email', required: true, autocomplete: 'off', hint: t('pp.member_email_hint') }),
        field({ name: 'role', label: t('f.role'), options: roles, value: 'viewer' })],
      submit: t('pp.member_add'),
      onSubmit: async (v) => {
        if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v.email)) throw new ApiError(400, { field: 'email', detail: t('pp.v.email') });
        const m = await api('POST', `${pPath(id)}/members`, { email: v.email, role: v.role });
        announce(m.invitation ? t('pp.invited', { email: m.invitation.email })
          : t('pp.member_added', { email: m.email, role: t(`pp.role.${m.role}`) }));
        await rerender();
      },
    })));
  }
  return out;
}

// The link of a partner invitation e-mail: the signed-in user with the invited address joins.
export function acceptInvitation({ query, go }) {
  const token = query.get('token') || '';
  const section = h('section', { class: 'card narrow' }, h('h1', {}, t('pp.accept_title')));
  section.append(h('p', {}, t('pp.accept_body')), form({
    label: t('pp.accept_title'),
    fields: [h('input', { type: 'hidden', name: 'token', value: token })],
    submit: t('pp.accept'),
    onSubmit: async () => {
      const r = await api('POST', '/api/v1/partner-invitations/accept', { token });
      announce(t('pp.accepted', { name: r.partner.name, role: t(`pp.role.${r.role}`) }));
      go(`/partners/${r.partner.id}`);
    },
  }));
  return section;
}
