// Billing of one organization: invoices (list, view, printable HTML, CSV), card payment through the
// API's card flow (202 + operation; the simulated gateway under --dev), payments received with
// their refunds and the credit notes, metered usage of the current period, and redeeming an
// agency's referral code.
import { h, field, form, announce, fmtTime } from '../ui.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { follow } from '../op.js';
import { orgNav, table } from './orgs.js';
import { yen, downloadBlob, plainCertError } from './services.js';
import { REFERRAL_KEY } from './auth.js';

const enc = encodeURIComponent;
const orgPath = (id) => `/api/v1/organizations/${enc(id)}`;
export const openAmount = (inv) => Math.max(0, (inv.total || 0) - (inv.amount_paid || 0));
export const isDue = (inv) => inv.kind === 'invoice' && !['paid', 'void', 'draft'].includes(inv.status) && openAmount(inv) > 0;

function statusBadge(inv) {
  const cls = inv.status === 'paid' ? 'badge ok' : isDue(inv) ? 'badge bad' : 'badge';
  return h('span', { class: cls, 'data-status': inv.status }, t(`inv.status.${inv.status}`));
}

async function download(path, fallback) {
  const res = await api('GET', path, undefined, { raw: true });
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '')?.[1] || fallback;
  downloadBlob(await res.blob(), name);
  announce(t('inv.downloaded', { name }));
}

// Invoices | Payments | Usage inside the billing section.
function billingNav(id, here) {
  const link = (href, label) => h('a', { href: `#${href}`, 'aria-current': here === href ? 'page' : null }, label);
  return h('nav', { class: 'row orgnav', 'aria-label': t('bill.sections') },
    link(`/orgs/${id}/billing`, t('billing.invoices')), link(`/orgs/${id}/billing/payments`, t('bill.payments')),
    link(`/orgs/${id}/billing/usage`, t('bill.usage')));
}

function referralForm(id, rerender) {
  let fromLink = '';
  try { fromLink = localStorage.getItem(REFERRAL_KEY) || ''; } catch { /* none */ }
  return h('section', { class: 'card', 'aria-labelledby': 'ref-h' }, h('h2', { id: 'ref-h' }, t('bill.referral')),
    h('p', { class: 'hint' }, t('bill.referral_hint')),
    fromLink ? h('p', { class: 'hint', 'data-testid': 'referral-from-link' }, t('bill.referral_prefilled')) : null,
    form({
      label: t('bill.referral'),
      fields: [field({ name: 'code', label: t('bill.referral_code'), required: true, autocomplete: 'off', hint: t('bill.referral_code_hint'),
        value: fromLink || undefined, attrs: { spellcheck: 'false', autocapitalize: 'characters' } })],
      submit: t('bill.referral_submit'), submitClass: '',
      onSubmit: async (v) => {
        await api('POST', `${orgPath(id)}/referral`, { code: v.code });
        try { localStorage.removeItem(REFERRAL_KEY); } catch { /* none */ }
        announce(t('bill.referral_done'));
        rerender();
      },
    }));
}

export async function invoices({ params, rerender }) {
  const [id] = params;
  const org = await api('GET', orgPath(id));
  const out = h('div', {}, h('h1', {}, t('billing.title')), orgNav(org, `/orgs/${id}/billing`), billingNav(id, `/orgs/${id}/billing`));
  const all = [];
  let cursor = null;
  do {
    const page = await api('GET', `${orgPath(id)}/invoices?limit=200${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && all.length < 1000);
  const due = all.filter(isDue);
  out.append(h('section', { class: 'card', 'aria-labelledby': 'due-h' }, h('h2', { id: 'due-h' }, t('billing.due')),
    due.length ? h('p', {}, t('billing.due_sum', { n: due.length, amount: yen(due.reduce((s, i) => s + openAmount(i), 0)) }))
      : h('p', { class: 'muted' }, t('billing.nothing_due'))));
  const rows = all.slice().reverse().map((inv) => h('tr', {},
    h('td', {}, h('a', { href: `#/orgs/${id}/invoices/${inv.id}` }, inv.number)),
    h('td', {}, t(`inv.kind.${inv.kind}`)), h('td', { class: 'nowrap' }, inv.issue_date), h('td', { class: 'nowrap' }, inv.due_date || ''),
    h('td', { class: 'nowrap' }, yen(inv.total)), h('td', {}, statusBadge(inv))));
  out.append(h('section', { 'aria-labelledby': 'inv-h' }, h('h2', { id: 'inv-h' }, t('billing.invoices')),
    rows.length ? table([t('inv.number'), t('inv.kind'), t('inv.issued'), t('inv.due_date'), t('inv.total'), t('inv.status')], rows, t('billing.invoices'))
      : h('p', { class: 'muted' }, t('billing.none'))));
  const csv = h('button', { type: 'button' }, t('billing.csv'));
  csv.addEventListener('click', () => download(`${orgPath(id)}/invoices.csv`, 'invoices.csv').catch((e) => announce(e.message)));
  out.append(h('div', { class: 'row' }, csv));
  out.append(referralForm(id, rerender));
  return out;
}

const methodName = (m) => t(`bill.method.${m}`);

// Payments received (card, bank transfer) with what was refunded, and every credit note (refunds
// made here or in the card gateway's dashboard, corrections), newest first.
export async function payments({ params }) {
  const [id] = params;
  const org = await api('GET', orgPath(id));
  const [pays, invs] = await Promise.all([api('GET', `${orgPath(id)}/payments`), api('GET', `${orgPath(id)}/invoices?limit=200`)]);
  const numberOf = Object.fromEntries(invs.items.map((i) => [i.id, i.number]));
  const out = h('div', {}, h('h1', {}, t('bill.payments')), orgNav(org, `/orgs/${id}/billing`), billingNav(id, `/orgs/${id}/billing/payments`));
  const received = pays.items.filter((p) => p.state !== 'declined').reduce((s, p) => s + p.amount, 0);
  const refunded = pays.items.reduce((s, p) => s + (p.refunded || 0), 0);
  out.append(h('section', { class: 'card', 'aria-labelledby': 'ptot-h' }, h('h2', { id: 'ptot-h' }, t('bill.totals')),
    h('dl', { class: 'facts' },
      h('dt', {}, t('bill.received')), h('dd', { 'data-received': String(received) }, yen(received)),
      h('dt', {}, t('bill.refunded')), h('dd', { 'data-refunded': String(refunded) }, yen(refunded)))));
  const rows = pays.items.slice().reverse().map((p) => h('tr', { 'data-payment': p.id },
    h('td', { class: 'nowrap' }, p.created_at ? p.created_at.slice(0, 10) : ''),
    h('td', {}, numberOf[p.invoice_id] ? h('a', { href: `#/orgs/${id}/invoices/${p.invoice_id}` }, numberOf[p.invoice_id]) : p.invoice_id),
    h('td', {}, methodName(p.method)), h('td', { class: 'nowrap' }, yen(p.amount)),
    h('td', { class: 'nowrap' }, p.refunded ? yen(p.refunded) : '—'),
    h('td', {}, h('span', { class: p.state === 'captured' ? 'badge ok' : 'badge', 'data-state': p.state }, t(`bill.state.${p.state}`)))));
  out.append(h('section', { 'aria-labelledby': 'pay-h' }, h('h2', { id: 'pay-h' }, t('bill.payments_list')),
    rows.length ? table([t('bill.date'), t('inv.number'), t('bill.method'), t('bill.amount'), t('bill.refunded'), t('inv.status')], rows, t('bill.payments_list'))
      : h('p', { class: 'muted' }, t('bill.no_payments'))));
  const notes = invs.items.filter((i) => i.kind === 'credit_note').reverse();
  const noteRows = notes.map((n) => h('tr', { 'data-credit-note': n.number },
    h('td', {}, h('a', { href: `#/orgs/${id}/invoices/${n.id}` }, n.number)), h('td', { class: 'nowrap' }, n.issue_date),
    h('td', {}, n.corrects_invoice_number || ''), h('td', {}, n.note || ''), h('td', { class: 'nowrap' }, yen(n.total))));
  out.append(h('section', { 'aria-labelledby': 'cn-h' }, h('h2', { id: 'cn-h' }, t('bill.credit_notes')),
    h('p', { class: 'hint' }, t('bill.credit_notes_hint')),
    noteRows.length ? table([t('inv.number'), t('inv.issued'), t('bill.corrects'), t('bill.reason'), t('bill.credited')], noteRows, t('bill.credit_notes'))
      : h('p', { class: 'muted' }, t('bill.no_credit_notes'))));
  return out;
}

// Metered usage of each subscription in its current period (what the next invoice rates).
export async function usage({ params }) {
  const [id] = params;
  const org = await api('GET', orgPath(id));
  const u = await api('GET', `${orgPath(id)}/usage`);
  const out = h('div', {}, h('h1', {}, t('bill.usage')), orgNav(org, `/orgs/${id}/billing`), billingNav(id, `/orgs/${id}/billing/usage`));
  out.append(h('p', { class: 'hint' }, t('bill.usage_hint')));
  const rows = u.items.map((i) => h('tr', { 'data-meter': i.metric },
    h('td', {}, i.product), h('td', {}, t(`bill.meter.${i.metric}`)),
    h('td', { class: 'nowrap', 'data-quantity': String(i.quantity) }, t(`bill.unit.${i.metric}`, { n: Number(i.quantity).toLocaleString('ja-JP') })),
    h('td', { class: 'nowrap' }, t('bill.period', { start: i.period?.start || '', end: i.period?.end || '' }))));
  out.append(h('section', { 'aria-labelledby': 'use-h' }, h('h2', { id: 'use-h' }, t('bill.usage_this_period')),
    rows.length ? table([t('bill.subscription'), t('bill.meter'), t('bill.quantity'), t('bill.period_h')], rows, t('bill.usage_this_period'))
      : h('p', { class: 'muted' }, t('bill.no_usage'))));
  return out;
}

export async function invoice({ params, rerender }) {
  const [id, iid] = params;
  const org = await api('GET', orgPath(id));
  const inv = await api('GET', `${orgPath(id)}/invoices/${enc(iid)}`);
  const out = h('div', {}, h('h1', {}, t('inv.title', { number: inv.number })), orgNav(org, `/orgs/${id}/billing`));
  out.append(h('p', {}, h('a', { href: `#/orgs/${id}/billing` }, t('inv.back'))));
  out.append(h('section', { class: 'card' },
    h('dl', { class: 'facts' },
      h('dt', {}, t('inv.status')), h('dd', {}, statusBadge(inv)),
      h('dt', {}, t('inv.issuer')), h('dd', {}, `${inv.issuer?.name || ''} (${inv.issuer?.registration_number || ''})`),
      h('dt', {}, t('inv.recipient')), h('dd', {}, inv.recipient_name || ''),
      h('dt', {}, t('inv.issued')), h('dd', {}, inv.issue_date),
      h('dt', {}, t('inv.due_date')), h('dd', {}, inv.due_date || '—'),
      h('dt', {}, t('inv.total')), h('dd', {}, h('strong', { 'data-total': String(inv.total) }, yen(inv.total)), ' ', t('inv.tax_incl', { tax: yen(inv.tax) })),
      h('dt', {}, t('inv.paid')), h('dd', {}, yen(inv.amount_paid)))));
  out.append(h('section', { 'aria-labelledby': 'lines-h' }, h('h2', { id: 'lines-h' }, t('inv.lines')),
    table([t('inv.description'), t('inv.quantity'), t('inv.unit_price'), t('inv.tax_rate'), t('inv.amount')], (inv.lines || []).map((l) => h('tr', {},
      h('td', {}, l.description), h('td', {}, String(l.quantity)), h('td', { class: 'nowrap' }, yen(l.unit_price)),
      h('td', {}, `${l.tax_rate}%${l.reduced_rate ? ' ※' : ''}`), h('td', { class: 'nowrap' }, yen(l.amount)))), t('inv.lines'))));

  const dl = h('div', { class: 'row' });
  const htmlBtn = h('button', { type: 'button' }, t('inv.download_html'));
  htmlBtn.addEventListener('click', () => download(`${orgPath(id)}/invoices/${enc(iid)}.html`, `${inv.number}.html`).catch((e) => announce(e.message)));
  const csvBtn = h('button', { type: 'button' }, t('billing.csv'));
  csvBtn.addEventListener('click', () => download(`${orgPath(id)}/invoices.csv`, 'invoices.csv').catch((e) => announce(e.message)));
  dl.append(htmlBtn, csvBtn);
  if (inv.document_url) dl.append(h('a', { href: inv.document_url, target: '_blank', rel: 'noopener' }, t('inv.open_printable')));
  if (inv.pdf_url) {
    const pdfBtn = h('button', { type: 'button' }, t('inv.download_pdf'));
    pdfBtn.addEventListener('click', () => download(inv.pdf_url, `${inv.number}.pdf`).catch((e) => announce(e.message)));
    dl.append(pdfBtn);
  }
  out.append(h('section', { class: 'card' }, h('h2', {}, t('inv.download')), dl));

  if (isDue(inv)) {
    const progress = h('div', { 'aria-live': 'polite' });
    out.append(h('section', { class: 'card' }, h('h2', {}, t('pay.title', { amount: yen(openAmount(inv)) })),
      h('p', { class: 'hint' }, t('pay.hint')),
      form({
        label: t('pay.title', { amount: yen(openAmount(inv)) }),
        fields: [field({ name: 'card_token', label: t('pay.card_token'), required: true, autocomplete: 'off', hint: t('pay.card_token_hint'),
          attrs: { spellcheck: 'false', autocapitalize: 'off' } })],
        submit: t('pay.submit'),
        onSubmit: async (v) => {
          const r = await api('POST', `${orgPath(id)}/invoices/${enc(iid)}/payments`, { card_token: v.card_token });
          await follow(r.operation.url, progress, { label: t('pay.paying', { number: inv.number }) });
          announce(t('pay.done', { number: inv.number }));
          rerender();
        },
      }), progress));
  }
  return out;
}

// Dashboard facts for the organization page: open invoices and certificates that expire within
// 30 days or failed. Sections the member may not read (403) are left out.
export async function summary(id) {
  const [inv, certs] = await Promise.all([
    api('GET', `${orgPath(id)}/invoices?limit=200`).catch(() => null),
    api('GET', `${orgPath(id)}/certificates?limit=200`).catch(() => null)]);
  const box = h('section', { class: 'card', 'aria-labelledby': 'sum-h' }, h('h2', { id: 'sum-h' }, t('sum.title')));
  const [sites, vps, zones] = await Promise.all(['sites', 'vps', 'zones'].map((k) => api('GET', `${orgPath(id)}/${k}?limit=200`).catch(() => null)));
  if (sites || vps || zones) {
    const link = (k, n, key) => h('li', {}, h('a', { href: `#/orgs/${id}/${k}` }, t(key, { n })));
    box.append(h('h3', {}, t('sum.services')), h('ul', { class: 'plain' },
      sites ? link('sites', sites.items.length, 'sum.sites') : null,
      vps ? link('vps', vps.items.length, 'sum.vps') : null,
      zones ? link('dns', zones.items.length, 'sum.zones') : null));
  }
  if (inv) {
    const due = inv.items.filter(isDue);
    box.append(h('h3', {}, t('billing.due')), due.length
      ? h('ul', { class: 'plain' }, due.map((i) => h('li', {}, h('a', { href: `#/orgs/${id}/invoices/${i.id}` }, i.number), ' ',
        t('sum.due_line', { amount: yen(openAmount(i)), date: i.due_date || '' }), ' ', statusBadge(i))))
      : h('p', { class: 'muted' }, t('billing.nothing_due')));
  }
  if (certs) {
    const soon = Date.now() + 30 * 86400000;
    const valid = certs.items.filter((c) => c.status === 'valid');
    const attention = certs.items.filter((c) => c.status === 'failed' || (c.not_after && c.not_after * 1000 < soon));
    box.append(h('h3', {}, t('certs.title')), h('p', {}, t('sum.certs', { valid: valid.length, total: certs.items.length })),
      attention.length ? h('ul', { class: 'plain' }, attention.map((c) => h('li', {}, c.domain, ' ',
        c.status === 'failed' ? plainCertError(c.last_error || '') : t('https.until', { date: fmtTime(c.not_after) }))))
        : null,
      valid.length ? h('p', { class: 'muted' }, t('sum.next_expiry', { date: fmtTime(Math.min(...valid.map((c) => c.not_after || Infinity))) })) : null);
  }
  return box;
}
