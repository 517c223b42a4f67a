// Dashboard, one organization (members, invitations, settings with the IP allow-list), API
// tokens, and the audit log with filters and CSV export.
import { h, field, form, checkboxes, announce, confirmDialog, fmtTime, showError, clearErrors } from '../ui.js';
import { t } from '../i18n.js';
import { api, rfc3339, ApiError } from '../api.js';
import { summary } from './billing.js';

const ROLES = ['owner', 'admin', 'billing', 'operator', 'developer', 'auditor', 'viewer'];
const PERMISSIONS = ['org.read', 'org.update', 'members.manage', 'tokens.read', 'tokens.manage', 'audit.read',
  'billing.read', 'billing.manage', 'services.read', 'services.manage'];
const MANAGERS = new Set(['owner', 'admin']);

const enc = encodeURIComponent;
// Cells carry their column's name (data-label) for the stacked layout on narrow screens.
function labelCells(head, rows) {
  for (const r of rows) [...r.children].forEach((td, i) => td.setAttribute('data-label', head[i] || ''));
  return rows;
}
export const table = (head, rows, caption) => h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption, 'data-head': JSON.stringify(head) },
  h('table', {}, h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, labelCells(head, rows))));

export function orgNav(org, here) {
  const link = (href, label) => h('a', { href: `#${href}`, 'aria-current': here === href ? 'page' : null }, label);
  return h('nav', { class: 'row orgnav', 'aria-label': t('org.sections') },
    link(`/orgs/${org.id}`, t('org.overview')), link(`/orgs/${org.id}/plans`, t('plans.title')),
    link(`/orgs/${org.id}/sites`, t('sites.title')), link(`/orgs/${org.id}/vps`, t('vps.title')),
    link(`/orgs/${org.id}/dedicated`, t('ded.title')),
    link(`/orgs/${org.id}/dns`, t('dns.title')), link(`/orgs/${org.id}/certificates`, t('certs.title')),
    link(`/orgs/${org.id}/billing`, t('billing.title')),
    link(`/orgs/${org.id}/tokens`, t('tokens.title')), link(`/orgs/${org.id}/audit`, t('audit.title')));
}

export async function dashboard({ go }) {
  const me = await api('GET', '/api/v1/me');
  const list = me.organizations.length
    ? h('ul', { class: 'orgs' }, me.organizations.map((o) => h('li', {},
      h('a', { href: `#/orgs/${o.id}` }, h('strong', {}, o.name), ' ',
        h('span', { class: 'badge' }, t(`role.${o.role}`)), ' ',
        o.status !== 'active' ? h('span', { class: 'badge bad' }, o.status) : null))))
    : h('p', { class: 'muted' }, t('dash.none'));
  const security = me.user.totp_enabled ? null
    : h('p', { class: 'card' }, t('dash.totp_hint'), ' ', h('a', { href: '#/account' }, t('dash.totp_link')));
  const create = form({
    label: t('dash.create'),
    fields: [field({ name: 'name', label: t('f.org_name'), required: true })],
    submit: t('dash.create'), submitClass: '',
    onSubmit: async (v) => {
      const o = await api('POST', '/api/v1/organizations', { name: v.name });
      announce(t('dash.created', { name: o.name }));
      go(`/orgs/${o.id}`);
    },
  });
  // Partner memberships (partner portal); absent when the user belongs to no partner.
  const partnerList = await api('GET', '/api/v1/partners').catch(() => ({ items: [] }));
  const partners = partnerList.items?.length
    ? h('section', { class: 'card', 'aria-labelledby': 'partners-h' }, h('h2', { id: 'partners-h' }, t('partner.title')),
      h('ul', { class: 'orgs' }, partnerList.items.map((p) => h('li', {}, h('a', { href: `#/partners/${p.id}` }, h('strong', {}, p.name), ' ',
        h('span', { class: 'badge' }, p.channel), ' ', h('span', { class: 'badge' }, p.role))))))
    : null;
  return h('div', {},
    h('h1', {}, t('dash.title')),
    h('p', { class: 'muted' }, t('dash.signed_in_as', { email: me.user.email })),
    security,
    h('section', { class: 'card', 'aria-labelledby': 'orgs-h' }, h('h2', { id: 'orgs-h' }, t('dash.orgs')), list),
    partners,
    h('section', { class: 'card' }, h('h2', {}, t('dash.create')), create));
}

export async function organization({ params, rerender }) {
  const [id] = params;
  const org = await api('GET', `/api/v1/organizations/${enc(id)}`);
  const members = await api('GET', `/api/v1/organizations/${enc(id)}/members`);
  const manager = MANAGERS.has(org.role);
  const out = h('div', {}, h('h1', {}, org.name), orgNav(org, `/orgs/${org.id}`),
    h('p', { class: 'muted' }, t('org.your_role'), ' ', h('span', { class: 'badge' }, t(`role.${org.role}`)), ' · ',
      t('org.status'), ' ', h('span', { class: org.status === 'active' ? 'badge ok' : 'badge bad' }, org.status)));
  out.append(await summary(id));

  // Owners and admins change roles and remove members (the API refuses leaving no owner).
  const memberRow = (m) => {
    const uid = m.user_id || m.id;
    let roleCell = t(`role.${m.role}`);
    let actions = '';
    if (manager) {
      const sel = h('select', { 'aria-label': t('members.role_of', { email: m.email }) },
        ROLES.map((r) => h('option', { value: r, selected: r === m.role }, t(`role.${r}`))));
      sel.addEventListener('change', async () => {
        try {
          await api('PATCH', `/api/v1/organizations/${enc(id)}/members/${enc(uid)}`, { role: sel.value });
          announce(t('members.role_changed', { email: m.email, role: t(`role.${sel.value}`) }));
        } catch (err) {
          sel.value = m.role;
          announce(t('err.field', { label: t('members.role_of', { email: m.email }), detail: err.message }));
        }
      });
      roleCell = sel;
      const rm = h('button', { type: 'button', class: 'danger', 'aria-label': t('members.remove_named', { email: m.email }) }, t('members.remove'));
      rm.addEventListener('click', async () => {
        if (!(await confirmDialog({ title: t('members.remove'), body: t('members.remove_body', { email: m.email }), confirm: t('members.remove') }))) return;
        try {
          await api('DELETE', `/api/v1/organizations/${enc(id)}/members/${enc(uid)}`);
          announce(t('members.removed', { email: m.email }));
          rerender();
        } catch (err) {
          announce(err.message);
        }
      });
      actions = rm;
    }
    return h('tr', {}, h('td', {}, m.email), h('td', {}, m.name), h('td', {}, roleCell),
      h('td', { class: 'nowrap' }, fmtTime(m.since)), h('td', {}, actions));
  };
  out.append(h('section', { class: 'card', 'aria-labelledby': 'm-h' }, h('h2', { id: 'm-h' }, t('members.title')),
    table([t('f.email'), t('f.name'), t('f.role'), t('members.since'), ''], members.items.map(memberRow), t('members.title'))));

  // Pending invitations (managers only): resend (a new link replaces the old one) or withdraw.
  if (manager) {
    const invs = await api('GET', `/api/v1/organizations/${enc(id)}/invitations`);
    const pending = invs.items.filter((v) => v.state === 'pending');
    const invAction = async (v, what, btn) => {
      if (what === 'cancel' && !(await confirmDialog({ title: t('pinv.cancel_named', { email: v.email }), body: t('pinv.cancel_body', { email: v.email }), confirm: t('pinv.cancel') }))) return;
      btn.disabled = true;
      try {
        if (what === 'cancel') await api('DELETE', `/api/v1/organizations/${enc(id)}/invitations/${enc(v.id)}`);
        else await api('POST', `/api/v1/organizations/${enc(id)}/invitations/${enc(v.id)}/resend`, {});
        announce(t(what === 'cancel' ? 'pinv.cancelled' : 'pinv.resent', { email: v.email }));
        rerender();
      } catch (err) {
        announce(`${v.email}: ${err.message}`);
        btn.disabled = false;
      }
    };
    const invRow = (v) => {
      const resend = h('button', { type: 'button', 'aria-label': t('pinv.resend_named', { email: v.email }) }, t('pinv.resend'));
      resend.addEventListener('click', () => invAction(v, 'resend', resend));
      const cancel = h('button', { type: 'button', class: 'danger', 'aria-label': t('pinv.cancel_named', { email: v.email }) }, t('pinv.cancel'));
      cancel.addEventListener('click', () => invAction(v, 'cancel', cancel));
      return h('tr', {}, h('td', {}, v.email), h('td', {}, t(`role.${v.role}`)), h('td', { class: 'nowrap' }, fmtTime(v.expires_at)),
        h('td', {}, h('div', { class: 'row' }, resend, cancel)));
    };
    out.append(h('section', { class: 'card', 'aria-labelledby': 'inv-h' }, h('h2', { id: 'inv-h' }, t('pinv.title')), pending.length
      ? table([t('pinv.email'), t('pinv.role'), t('pinv.expires'), ''], pending.map(invRow), t('pinv.title'))
      : h('p', { class: 'muted' }, t('pinv.none'))));
  }

  if (manager) {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('invite.send')), form({
      label: t('invite.send'),
      fields: [
        field({ name: 'email', label: t('f.email'), type: 'email', autocomplete: 'off', required: true }),
        field({ name: 'role', label: t('f.role'), options: ROLES.map((r) => [r, t(`role.${r}`)]), value: 'developer' }),
      ],
      submit: t('invite.send'),
      onSubmit: async (v, el) => {
        await api('POST', `/api/v1/organizations/${enc(id)}/invitations`, { email: v.email, role: v.role });
        announce(t('invite.sent', { email: v.email }));
        el.reset();
        rerender();
      },
    })));
    out.append(h('section', { class: 'card' }, h('h2', {}, t('org.settings')), form({
      label: t('org.settings'),
      fields: [
        field({ name: 'name', label: t('f.org_name'), required: true, value: org.name }),
        field({ name: 'ip_allowlist', label: t('f.ip_allowlist'), multiline: true, value: (org.ip_allowlist || []).join('\n'),
          hint: t('f.ip_allowlist.hint') }),
      ],
      submit: t('save'),
      onSubmit: async (v) => {
        const ip = v.ip_allowlist.split(/[\s,]+/).filter(Boolean);
        await api('PATCH', `/api/v1/organizations/${enc(id)}`, { name: v.name, ip_allowlist: ip });
        announce(t('saved'));
        rerender();
      },
    })));
  }
  return out;
}

export async function tokens({ params, rerender }) {
  const [id] = params;
  const org = await api('GET', `/api/v1/organizations/${enc(id)}`);
  const list = await api('GET', `/api/v1/organizations/${enc(id)}/tokens?limit=200`);
  const out = h('div', {}, h('h1', {}, t('tokens.title')), orgNav(org, `/orgs/${org.id}/tokens`));
  const shown = h('div', { 'aria-live': 'polite' });
  out.append(shown);

  const revoke = async (tok) => {
    const ok = await confirmDialog({ title: t('tokens.revoke.title'), body: t('tokens.revoke.body', { name: tok.name }), confirm: t('tokens.revoke') });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/organizations/${enc(id)}/tokens/${enc(tok.id)}`);
      announce(t('tokens.revoked', { name: tok.name }));
      rerender();
    } catch (err) {
      announce(`${t('tokens.revoke')}: ${err.message}`);
    }
  };
  const rows = list.items.map((tok) => h('tr', {},
    h('td', {}, tok.name), h('td', {}, h('code', {}, tok.scopes.join(' '))),
    h('td', { class: 'nowrap' }, fmtTime(tok.created_at)), h('td', { class: 'nowrap' }, tok.expires_at ? fmtTime(tok.expires_at) : t('tokens.never')),
    h('td', { class: 'nowrap' }, tok.last_used_at ? fmtTime(tok.last_used_at) : '—'),
    h('td', {}, tok.revoked ? h('span', { class: 'badge bad' }, t('tokens.is_revoked'))
      : h('button', { type: 'button', class: 'danger', 'aria-label': t('tokens.revoke.named', { name: tok.name }), onclick: () => revoke(tok) }, t('tokens.revoke')))));
  out.append(h('section', { 'aria-labelledby': 'tl-h' }, h('h2', { id: 'tl-h' }, t('tokens.list')),
    rows.length ? table([t('f.token_name'), t('f.scopes'), t('tokens.created'), t('f.expires_at'), t('tokens.last_used'), ''], rows, t('tokens.list'))
      : h('p', { class: 'muted' }, t('tokens.none'))));

  if (MANAGERS.has(org.role) || org.role === 'developer') {
    out.append(h('section', { class: 'card' }, h('h2', {}, t('tokens.create')), form({
      label: t('tokens.create'),
      fields: [
        field({ name: 'name', label: t('f.token_name'), required: true, autocomplete: 'off', hint: t('f.token_name.hint') }),
        checkboxes({ name: 'scopes', legend: t('f.scopes'), items: PERMISSIONS.map((p) => [p, `${p} — ${t(`perm.${p}`)}`, p.endsWith('.read')]) }),
        field({ name: 'expires_at', label: t('f.expires_at'), type: 'date', hint: t('f.expires_at.hint') }),
      ],
      submit: t('tokens.create'),
      onSubmit: async (v) => {
        const body = { name: v.name, scopes: v.scopes };
        if (v.expires_at) body.expires_at = rfc3339(new Date(`${v.expires_at}T23:59:59`));
        const tok = await api('POST', `/api/v1/organizations/${enc(id)}/tokens`, body);
        await rerender();
        // Shown once: the server keeps only a hash.
        const box = document.querySelector('[data-token-box]') || shown;
        box.replaceChildren(h('section', { class: 'card once', 'aria-labelledby': 'new-tok' },
          h('h2', { id: 'new-tok' }, t('tokens.created_title', { name: tok.name })),
          h('p', {}, t('tokens.once')),
          h('code', { class: 'secret', 'data-testid': 'new-token' }, tok.token),
          h('button', { type: 'button', onclick: async (e) => {
            try { await navigator.clipboard.writeText(tok.token); e.target.textContent = t('copied'); } catch { e.target.textContent = t('copy.failed'); }
          } }, t('copy'))));
        announce(t('tokens.created_title', { name: tok.name }));
      },
    })));
  }
  shown.setAttribute('data-token-box', '');
  return out;
}

function localInput(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}`;
}

export async function audit({ params }) {
  const [id] = params;
  const org = await api('GET', `/api/v1/organizations/${enc(id)}`);
  const out = h('div', {}, h('h1', {}, t('audit.title')), orgNav(org, `/orgs/${org.id}/audit`));
  const results = h('div', { 'aria-live': 'polite' });
  const now = new Date();
  const filters = {};
  let cursor = null;

  const rowOf = (e) => h('tr', {},
    h('td', { class: 'nowrap' }, fmtTime(e.time)), h('td', { class: 'nowrap' }, h('code', {}, e.action)),
    h('td', {}, `${e.actor_type}${e.actor_id ? `:${e.actor_id}` : ''}`), h('td', {}, e.target),
    h('td', {}, h('span', { class: e.result === 'success' ? 'badge ok' : 'badge bad' }, e.result)),
    h('td', { class: 'nowrap' }, e.source_ip));

  const query = () => {
    const q = new URLSearchParams({ limit: '50' });
    if (filters.from) q.set('from', filters.from);
    if (filters.to) q.set('to', filters.to);
    if (filters.action) q.set('action', filters.action);
    if (cursor) q.set('cursor', cursor);
    return q;
  };
  const load = async (append) => {
    const page = await api('GET', `/api/v1/organizations/${enc(id)}/audit-events?${query()}`);
    cursor = page.next_cursor;
    let tbody = results.querySelector('tbody');
    if (!append || !tbody) {
      const tbl = table([t('audit.time'), t('audit.action'), t('audit.actor'), t('audit.target'), t('audit.result'), t('audit.ip')], [], t('audit.title'));
      results.replaceChildren(tbl);
      tbody = tbl.querySelector('tbody');
    }
    tbody.append(...labelCells(JSON.parse(tbody.closest('.table-wrap').dataset.head), page.items.map(rowOf)));
    results.querySelector('.more')?.remove();
    if (!page.items.length && !append) results.replaceChildren(h('p', { class: 'muted' }, t('audit.none')));
    if (cursor) results.append(h('button', { type: 'button', class: 'more', onclick: () => load(true).catch((e) => announce(e.message)) }, t('audit.more')));
    announce(t('audit.shown', { n: results.querySelectorAll('tbody tr').length }));
  };
  const toIso = (v, field) => {
    if (!v) return '';
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new ApiError(400, { field, detail: t('err.time') });
    return rfc3339(d);
  };

  const f = form({
    label: t('audit.filters'), formClass: 'filters',
    fields: [
      field({ name: 'from', label: t('f.from'), type: 'datetime-local', value: localInput(new Date(now.getTime() - 30 * 86400000)) }),
      field({ name: 'to', label: t('f.to'), type: 'datetime-local', value: localInput(new Date(now.getTime() + 3600000)) }),
      field({ name: 'action', label: t('f.action'), hint: t('f.action.hint') }),
    ],
    submit: t('audit.apply'),
    onSubmit: async (v) => {
      filters.from = toIso(v.from, 'from');
      filters.to = toIso(v.to, 'to');
      filters.action = v.action;
      cursor = null;
      await load(false);
    },
  });

  const exportBtn = h('button', { type: 'button' }, t('audit.export'));
  exportBtn.addEventListener('click', async () => {
    clearErrors(f);
    exportBtn.setAttribute('aria-busy', 'true');
    exportBtn.disabled = true;
    announce(t('audit.exporting'), { busy: true });
    try {
      const from = toIso(f.elements.from.value, 'from');
      const to = toIso(f.elements.to.value, 'to');
      if (!from) throw new ApiError(400, { field: 'from', detail: t('err.required_export') });
      if (!to) throw new ApiError(400, { field: 'to', detail: t('err.required_export') });
      const q = new URLSearchParams({ from, to });
      const res = await api('GET', `/api/v1/organizations/${enc(id)}/audit-events.csv?${q}`, undefined, { raw: true });
      const blob = await res.blob();
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '')?.[1] || 'audit.csv';
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: name, class: 'sr-only' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      announce(t('audit.exported', { name }));
    } catch (err) {
      announce('');
      showError(f, err);
    } finally {
      exportBtn.removeAttribute('aria-busy');
      exportBtn.disabled = false;
    }
  });
  f.querySelector('.row').append(exportBtn);
  out.append(h('section', { class: 'card' }, h('h2', {}, t('audit.filters')), f), results);
  filters.from = toIso(f.elements.from.value, 'from');
  filters.to = toIso(f.elements.to.value, 'to');
  await load(false);
  return out;
}
