// Entry point: hash router (#/path?query), header navigation, language toggle.
import { h, announce, navigated } from './ui.js';
import { t, lang, setLang, applyStaticText } from './i18n.js';
import { api, session, setUnauthenticatedHandler } from './api.js';
import * as auth from './pages/auth.js';
import * as orgs from './pages/orgs.js';
import * as account from './pages/account.js';
import * as services from './pages/services.js';
import * as certs from './pages/certificates.js';
import * as billing from './pages/billing.js';
import * as partners from './pages/partners.js';

const routes = [
  [/^\/$/, orgs.dashboard, true],
  [/^\/signup$/, auth.signup, false],
  [/^\/signin$/, auth.signin, false],
  [/^\/verify-email$/, auth.verifyEmail, false],
  [/^\/reset-password$/, auth.resetPassword, false],
  [/^\/accept-invitation$/, auth.acceptInvitation, true],
  [/^\/account$/, account.security, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)$/, orgs.organization, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/tokens$/, orgs.tokens, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/audit$/, orgs.audit, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/plans$/, services.plans, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/sites$/, services.sites, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/certificates$/, certs.certificates, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/vps$/, services.vpsList, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/vps\/([A-Za-z0-9_-]+)$/, services.vpsDetail, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/dedicated$/, services.dedicated, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/dns$/, services.zones, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/dns\/([A-Za-z0-9_-]+)$/, services.zone, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/billing$/, billing.invoices, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/billing\/payments$/, billing.payments, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/billing\/usage$/, billing.usage, true],
  [/^\/partners$/, partners.list, true],
  [/^\/partners\/([A-Za-z0-9_-]+)$/, partners.customers, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/customers\/([A-Za-z0-9_-]+)$/, partners.customer, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/branding$/, partners.branding, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/webhooks$/, partners.webhooks, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/commission$/, partners.commission, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/orders$/, partners.orders, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/prices$/, partners.prices, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/keys$/, partners.keys, true],
  [/^\/partners\/([A-Za-z0-9_-]+)\/members$/, partners.members, true],
  [/^\/partner-invitation$/, partners.acceptInvitation, true],
  [/^\/orgs\/([A-Za-z0-9_-]+)\/invoices\/([A-Za-z0-9_-]+)$/, billing.invoice, true],
];

export function go(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
}

function current() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const q = raw.indexOf('?');
  return { path: q < 0 ? raw : raw.slice(0, q), query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)), raw };
}

function renderNav(path) {
  const nav = document.getElementById('nav');
  const link = (href, label) => h('a', { href: `#${href}`, 'aria-current': path === href ? 'page' : null }, label);
  if (session.active) {
    nav.replaceChildren(
      link('/', t('nav.dashboard')),
      link('/account', t('nav.security')),
      h('button', { type: 'button', class: 'link', onclick: signOut }, t('nav.signout')));
  } else {
    nav.replaceChildren(link('/signin', t('nav.signin')), link('/signup', t('nav.signup')));
  }
}

async function signOut() {
  try {
    await api('DELETE', '/api/v1/sessions/current');
  } catch { /* the session is gone either way */ }
  session.clear();
  announce(t('signedout'));
  go('/signin');
}

// The brand the server put into index.html for this host (an OEM's on its panel host).
function brandName() {
  return document.querySelector('meta[name="application-name"]')?.content || 'hostplane';
}

let renderSeq = 0;
let firstRender = true;  // on load the page starts at the top (skip link first); later navigations focus the new <h1>
export async function render() {
  const seq = ++renderSeq;
  navigated();
  const { path, query, raw } = current();
  const main = document.getElementById('main');
  let found = null;
  for (const [re, page, needsAuth] of routes) {
    const m = path.match(re);
    if (m) { found = { page, needsAuth, params: m.slice(1) }; break; }
  }
  renderNav(path);
  if (!found) {
    main.replaceChildren(h('h1', { tabindex: '-1' }, t('notfound.title')), h('p', {}, h('a', { href: '#/' }, t('notfound.back'))));
    return;
  }
  if (found.needsAuth && !session.active) {
    go(`/signin?next=${encodeURIComponent(raw)}`);
    return;
  }
  let node;
  try {
    // A page redraws itself only while it is still the current one: a late redraw (an operation
    // that ended after the user moved on) must not reset another page's forms.
    const hashAtRender = location.hash;
    const rerender = () => (location.hash === hashAtRender ? render() : Promise.resolve());
    node = await found.page({ params: found.params, query, go, rerender });
  } catch (err) {
    node = h('div', {}, h('h1', { tabindex: '-1' }, t('err.title')),
      h('p', { class: 'form-error', role: 'alert' }, err.message || String(err)));
  }
  if (seq !== renderSeq) return;  // a newer navigation won
  main.replaceChildren(node);
  const first = firstRender;
  firstRender = false;
  const h1 = main.querySelector('h1');
  if (h1) {
    document.title = `${h1.textContent} — ${brandName()}`;
    h1.setAttribute('tabindex', '-1');
    if (!first && (document.activeElement === document.body || !main.contains(document.activeElement))) h1.focus();
  }
}

function initLang() {
  const btn = document.getElementById('lang');
  const paint = () => {
    btn.textContent = lang() === 'ja' ? 'English' : '日本語';
    btn.setAttribute('lang', lang() === 'ja' ? 'en' : 'ja');
    btn.setAttribute('aria-label', t('lang.switch'));
    applyStaticText();
  };
  btn.addEventListener('click', () => {
    setLang(lang() === 'ja' ? 'en' : 'ja');
    paint();
    announce('');
    render();
  });
  paint();
}

document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main').focus();
});
setUnauthenticatedHandler(() => {
  announce(t('session.expired'));
  const { raw, path } = current();
  if (path !== '/signin') go(`/signin?next=${encodeURIComponent(raw)}`);
});
window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#/') || location.hash === '') render();
});
initLang();
render();
