// End-to-end test of the web control panel: Playwright (playwright-core) drives Debian's chromium
// headless against a real `hostplane serve --dev` on loopback, as a new customer would: sign up,
// confirm the e-mail from the outbox (var/mail), sign in, turn on TOTP, sign out and in again with
// a code, create an API token, find it in the audit log, export the CSV, revoke the token; checks
// field-named errors, the security headers, 360 px layout and the Japanese UI, and fails on any
// console error. Screenshots go to the artefact directory.
//
//   node signup.test.mjs <hostplane binary> <artefact dir>
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './lib.mjs';

const [bin, artifacts] = process.argv.slice(2);
if (!bin || !artifacts) {
  console.error('usage: node signup.test.mjs <hostplane binary> <artefact dir>');
  process.exit(2);
}
const CHROMIUM = process.env.HP_CHROMIUM || '/usr/bin/chromium';
const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
class Failure extends Error {}
function check(cond, msg) { if (!cond) throw new Failure(msg); }

// --- helpers ---------------------------------------------------------------------------------

// Polls fn() until it returns a truthy value or the deadline passes (no fixed sleeps).
async function poll(what, fn, ms = 15000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Failure(`${what}: not after ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

function get(url, { ca, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers, timeout: 5000, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Failure(`bad base32 character ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits) at unix time `seconds`.
function totp(secretB32, seconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = crypto.createHmac('sha1', base32Decode(secretB32)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 1000000).padStart(6, '0');
}
// RFC 6238 appendix B test vector, so a broken helper fails here rather than as a confusing sign-in error.
check(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59) === '287082', 'the test TOTP helper disagrees with RFC 6238');

// --- the server ------------------------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-panel-e2e-'));
const varDir = path.join(tmp, 'var');
const clockFile = path.join(tmp, 'clock');
fs.writeFileSync(clockFile, '0');
fs.mkdirSync(artifacts, { recursive: true });
for (const f of fs.readdirSync(artifacts)) if (/\.(png|csv)$/.test(f)) fs.rmSync(path.join(artifacts, f));
const port = await freePort();
const base = `https://localhost:${port}`;
const serverLog = fs.openSync(path.join(tmp, 'server.log'), 'w');
const server = spawn(bin, ['serve', '--dev', '--var', varDir, '--listen', `127.0.0.1:${port}`], {
  env: { ...process.env, HOSTPLANE_HTTP_FRONT_WORKERS: '1', HOSTPLANE_DNS_LISTEN: '127.0.0.1:0',
    HOSTPLANE_DEV_CLOCK_FILE: clockFile, HOSTPLANE_JOBS_WORKERS: '2' },
  stdio: ['ignore', serverLog, serverLog],
});
let serverExited = false;
server.on('exit', () => { serverExited = true; });
let ca;
let clockOffset = 0;

// Moves the server's clock forward and waits until /healthz reports it.
async function advance(seconds) {
  clockOffset += seconds;
  fs.writeFileSync(clockFile, String(clockOffset));
  const target = Date.now() / 1000 + clockOffset - 1;
  await poll('server clock moved', async () => {
    const r = await get(`${base}/healthz`, { ca });
    return Date.parse(JSON.parse(r.body).time) / 1000 >= target;
  }, 5000, 20);
}

// A quoted-printable body (RFC 2045): undo soft line breaks and =XX escapes.
function decodeQuotedPrintable(s) {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

function newestMail(to, subject) {
  const dir = path.join(varDir, 'mail');
  if (!fs.existsSync(dir)) return null;
  const found = fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .filter((m) => m.includes(`To: ${to}\r\n`) && m.includes(subject));
  if (!found.length) return null;
  // Only a quoted-printable body is decoded: in a plain one (the dev outbox) "token=4F..." is text.
  const m = found[found.length - 1];
  return /^Content-Transfer-Encoding: quoted-printable\r?$/mi.test(m.split(/\r?\n\r?\n/)[0]) ? decodeQuotedPrintable(m) : m;
}

let browser;
const consoleErrors = [];
const serverErrors = [];
let shot = 0;
let page;
async function screenshot(name) {
  const file = path.join(artifacts, `${String(++shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

try {
  await poll('server ready', async () => {
    if (serverExited) throw new Failure('hostplane serve exited');
    const caFile = path.join(varDir, 'tls', 'server.crt');
    if (!fs.existsSync(caFile)) return false;
    ca = fs.readFileSync(caFile);
    return (await get(`${base}/healthz`, { ca })).status === 200;
  }, 20000);
  log(`server ready on ${base}`);

  // Security headers of the panel shell and its assets.
  {
    const shell = await get(`${base}/app/`, { ca });
    check(shell.status === 200, `/app/ answered ${shell.status}`);
    check(shell.headers['content-type'] === 'text/html; charset=utf-8', `/app/ content-type ${shell.headers['content-type']}`);
    const csp = shell.headers['content-security-policy'] || '';
    check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline') && csp.includes("frame-ancestors 'none'"), `weak CSP: ${csp}`);
    check(shell.headers['x-content-type-options'] === 'nosniff', 'no nosniff');
    check(shell.headers['referrer-policy'] === 'no-referrer', 'no Referrer-Policy');
    check(/no-cache/.test(shell.headers['cache-control'] || '') && shell.headers.etag, 'no Cache-Control/ETag on /app/');
    const js = await get(`${base}/app/js/app.js`, { ca });
    check(js.status === 200 && js.headers['content-type'].startsWith('text/javascript'), `app.js: ${js.status} ${js.headers['content-type']}`);
    const again = await get(`${base}/app/js/app.js`, { ca, headers: { 'If-None-Match': js.headers.etag } });
    check(again.status === 304, `revalidation answered ${again.status}, not 304`);
    check(!/<script(?![^>]*\bsrc=)[^>]*>/.test(shell.body) && !/\son[a-z]+=/.test(shell.body), 'inline script in index.html');
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, locale: 'en-US',
    viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(10000);
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // Chromium logs every 4xx answer to fetch(); the API's problem documents for the errors this
    // test provokes on purpose (bad sign-up fields, the TOTP step, a wrong code) are expected.
    const url = m.location()?.url || '';
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) && url.includes('/api/v1/')) return;
    consoleErrors.push(`${m.text()} (${url})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 500) serverErrors.push(`${r.status()} ${r.url()}`); });

  // 1. Not signed in: the panel opens on the sign-in page.
  await page.goto(`${base}/app/`);
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  check(page.url().includes('#/signin'), `not sent to sign-in: ${page.url()}`);
  // Keyboard: the first Tab stop is the skip link, and it moves focus to the content.
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.id) === 'skip', 'first Tab stop is not the skip link');
  await page.keyboard.press('Enter');
  check(await page.evaluate(() => document.activeElement.id) === 'main', 'skip link did not move focus to the content');
  await screenshot('signin-empty');

  // 2. Sign up, with the errors a user makes first.
  await page.getByRole('link', { name: 'Create account' }).first().click();
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  const email = `ada+${Date.now()}@example.com`;
  const password = 'Correct horse 42';
  await page.getByRole('button', { name: 'Create account' }).click();
  const emailErr = page.locator('.field-error').filter({ hasText: 'E-mail address' });
  await emailErr.waitFor();
  check(await page.getByLabel('E-mail address').getAttribute('aria-invalid') === 'true', 'empty e-mail not marked invalid');
  check(await page.evaluate(() => document.activeElement.name) === 'email', 'focus not moved to the e-mail field');
  await page.getByLabel('E-mail address').fill('ada.example.com');
  await page.getByLabel('Organization name').fill('Ada Hosting');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.field-error', { hasText: 'E-mail address: is not a valid e-mail address' }).waitFor();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  const pwErr = page.locator('.field-error', { hasText: /^Password: / });
  await pwErr.waitFor();
  check(await page.getByLabel('E-mail address').getAttribute('aria-invalid') === null, 'fixed e-mail still marked invalid');
  await screenshot('signup-field-errors');
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your e-mail' }).waitFor();
  await screenshot('signup-check-mail');
  log('signed up');

  // 3. The verification e-mail, read from the outbox, and its link opened in the browser.
  // Polled until the link is there: the outbox file may be seen while it is still being written.
  const mail = await poll('verification e-mail with its link', async () => {
    const m = newestMail(email, 'Confirm your e-mail address');
    return m && /verify-email\?token=[A-Za-z0-9_-]{20,}\s/.test(m) ? m : null;
  }, 30000);
  const link = /(https:\/\/\S+\/verify-email\?token=[A-Za-z0-9_-]+)/.exec(mail)?.[1];
  check(link, `no verification link in the e-mail:\n${mail}`);
  check(link.startsWith(base), `link ${link} does not point at ${base}`);
  await page.goto(link);
  await page.getByText(`${email} is confirmed`).waitFor();
  check(page.url().startsWith(`${base}/app/#/verify-email`), `verify link landed on ${page.url()}`);
  await screenshot('email-verified');

  // 4. Sign in (password only), see the dashboard with the organization.
  await page.getByRole('link', { name: 'Sign in' }).last().click();
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  check(await page.getByLabel('E-mail address').inputValue() === email, 'e-mail not carried into the sign-in form');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.getByRole('link', { name: /Ada Hosting/ }).waitFor();
  await screenshot('dashboard');
  log('signed in');

  // 5. Turn on TOTP: secret and otpauth URI shown, a wrong code named, recovery codes shown once.
  await page.getByRole('link', { name: 'Account security' }).click();
  await page.getByRole('button', { name: 'Turn on two-step sign-in' }).click();
  const secretEl = page.getByTestId('totp-secret');
  await secretEl.waitFor();
  const secret = await secretEl.getAttribute('data-secret');
  check(/^[A-Z2-7]{16,}$/.test(secret), `odd TOTP secret ${secret}`);
  const uri = await page.getByTestId('totp-uri').textContent();
  check(uri.startsWith('otpauth://totp/') && uri.includes(`secret=${secret}`), `otpauth URI ${uri}`);
  const nowCode = totp(secret, Date.now() / 1000 + clockOffset);
  const wrong = String((Number(nowCode) + 500000) % 1000000).padStart(6, '0');
  await page.getByLabel('Authenticator code').fill(wrong);
  await page.getByRole('button', { name: 'Confirm and turn on' }).click();
  await page.locator('.field-error', { hasText: /^Authenticator code: the code does not match/ }).waitFor();
  await screenshot('totp-enroll');
  await page.getByLabel('Authenticator code').fill(totp(secret, Date.now() / 1000 + clockOffset));
  await page.getByRole('button', { name: 'Confirm and turn on' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  const codes = await page.getByTestId('recovery-codes').locator('li').allTextContents();
  check(codes.length === 10, `${codes.length} recovery codes shown, expected 10`);
  await screenshot('totp-recovery-codes');
  await page.getByRole('button', { name: 'I have saved these codes' }).click();
  await page.getByText('On', { exact: true }).waitFor();
  log('TOTP on');

  // 6. Sign out; sign in again, now with the second step (a wrong code first, named).
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await page.getByText('You are signed out.').waitFor();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
  check(await page.evaluate(() => document.activeElement.name) === 'totp_code', 'focus not on the code field');
  // The code used to enrol may not be used again: move the server's clock to the next period.
  await advance(30);
  const next = totp(secret, Date.now() / 1000 + clockOffset);
  await page.getByLabel('Authenticator code').fill(String((Number(next) + 1) % 1000000).padStart(6, '0'));
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await page.locator('.field-error', { hasText: /^Authenticator code: / }).waitFor();
  await screenshot('signin-totp-error');
  await page.getByLabel('Authenticator code').fill(totp(secret, Date.now() / 1000 + clockOffset));
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  log('signed in again with TOTP');

  // 7. An API token: created, shown once, works against the API.
  await page.getByRole('link', { name: /Ada Hosting/ }).click();
  await page.getByRole('heading', { name: 'Ada Hosting' }).waitFor();
  await page.getByRole('cell', { name: email, exact: true }).waitFor();
  await screenshot('organization');
  await page.getByRole('link', { name: 'API tokens' }).click();
  await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('.field-error', { hasText: /^Token name: / }).waitFor();
  await page.getByLabel('Token name').fill('deploy from CI');
  await page.getByLabel(/^tokens\.manage/).check();
  await page.getByRole('button', { name: 'Create token' }).click();
  const tokenEl = page.getByTestId('new-token');
  await tokenEl.waitFor();
  const token = (await tokenEl.textContent()).trim();
  check(/^hp_[A-Za-z0-9_-]+_[A-Za-z0-9_-]+$/.test(token), `shown token looks wrong: ${token}`);
  await page.getByRole('cell', { name: 'deploy from CI', exact: true }).waitFor();
  const me = await get(`${base}/api/v1/me`, { ca, headers: { Authorization: `Bearer ${token}` } });
  check(me.status === 200 && JSON.parse(me.body).user.email === email, `the shown token does not work: ${me.status}`);
  await screenshot('token-created');
  log('token created');

  // 8. The audit log shows it; the CSV export downloads it.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  await page.getByRole('cell', { name: 'token.create', exact: true }).waitFor();
  await page.getByLabel('Action').fill('token.');
  await page.getByRole('button', { name: 'Show events' }).click();
  await page.getByText('Events shown: 1.', { exact: true }).waitFor();
  check(await page.getByRole('cell', { name: 'user.signup', exact: true }).count() === 0, 'action filter did not filter');
  await screenshot('audit-log');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  const csvPath = path.join(artifacts, 'audit.csv');
  await download.saveAs(csvPath);
  const csv = fs.readFileSync(csvPath, 'utf8');
  check(/^audit-[A-Za-z0-9_-]+\.csv$/.test(download.suggestedFilename()), `download named ${download.suggestedFilename()}`);
  check(csv.includes('token.create') && csv.includes('user.signup'), `CSV lacks the events:\n${csv.slice(0, 500)}`);
  await page.getByText(/^Downloaded audit-/).waitFor();
  // An export period the API refuses names the field.
  await page.getByLabel('From').fill('2020-01-01T00:00');
  await page.getByRole('button', { name: 'Export CSV' }).click();
  await page.locator('.field-error', { hasText: /^To: .*3 months/ }).waitFor();
  log('audit log exported');

  // 9. Revoke the token (confirmation dialog); the API refuses it afterwards.
  await page.getByRole('link', { name: 'API tokens' }).click();
  await page.getByRole('button', { name: 'Revoke token deploy from CI' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('revoked', { exact: true }).waitFor();
  const after = await get(`${base}/api/v1/me`, { ca, headers: { Authorization: `Bearer ${token}` } });
  check(after.status === 401, `revoked token still answers ${after.status}`);

  // 10. Every visible form control has a label.
  for (const [route, heading] of [['#/account', 'Account security'], [`#/orgs/${/orgs\/([^/]+)/.exec(page.url())[1]}`, 'Ada Hosting']]) {
    await page.goto(`${base}/app/${route}`);
    await page.getByRole('heading', { name: heading, level: 1, exact: true }).waitFor();
    await page.locator('main form').first().waitFor();
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('main input, main select, main textarea')]
      .filter((el) => el.offsetParent !== null && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
      .map((el) => el.name || el.outerHTML));
    check(unlabelled.length === 0, `unlabelled controls on ${route}: ${unlabelled}`);
  }

  // 11. 360 px wide: no horizontal scrolling on any page.
  await page.setViewportSize({ width: 360, height: 740 });
  const orgId = /orgs\/([^/]+)/.exec(page.url())[1];
  for (const [route, name, heading] of [['#/', 'dashboard', 'Dashboard'], [`#/orgs/${orgId}`, 'organization', 'Ada Hosting'],
    [`#/orgs/${orgId}/tokens`, 'tokens', 'API tokens'], [`#/orgs/${orgId}/audit`, 'audit', 'Audit log'], ['#/account', 'account', 'Account security']]) {
    await page.goto(`${base}/app/${route}`);
    await page.getByRole('heading', { name: heading, level: 1, exact: true }).waitFor();
    await page.locator('main form, main table').first().waitFor();
    const { sw, cw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
    check(sw <= cw, `${name} at 360 px scrolls sideways (${sw} > ${cw})`);
    await screenshot(`360-${name}`);
  }

  // 12. Japanese UI.
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(`${base}/app/#/orgs/${orgId}/tokens`);
  await page.getByRole('button', { name: 'Switch the language to Japanese' }).click();
  await page.getByRole('heading', { name: 'API トークン', level: 1 }).waitFor();
  check(await page.evaluate(() => document.documentElement.lang) === 'ja', 'html lang not ja');
  await page.getByRole('button', { name: 'トークンを作成' }).click();
  await page.locator('.field-error', { hasText: /^トークン名:/ }).waitFor();
  await screenshot('ja-tokens');
  await page.getByRole('link', { name: 'サインアウト' }).or(page.getByRole('button', { name: 'サインアウト' })).click();
  await page.getByRole('heading', { name: 'サインイン', level: 1 }).waitFor();
  await screenshot('ja-signin');

  check(serverErrors.length === 0, `server errors: ${serverErrors.join(', ')}`);
  check(consoleErrors.length === 0, `console errors:\n  ${consoleErrors.join('\n  ')}`);
  log(`PASS (screenshots in ${artifacts})`);
} catch (err) {
  process.exitCode = 1;
  if (page) await screenshot('failure').catch(() => {});
  console.error(`FAIL: ${err instanceof Failure ? err.message : err.stack}`);
  if (consoleErrors.length) console.error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  try { console.error(`---- server log (tail)\n${fs.readFileSync(path.join(tmp, 'server.log'), 'utf8').split('\n').slice(-40).join('\n')}`); } catch { /* none */ }
} finally {
  if (browser) await browser.close().catch(() => {});
  if (!serverExited) {
    server.kill('SIGTERM');
    await poll('server stopped', async () => serverExited, 15000).catch(() => server.kill('SIGKILL'));
  }
  if (!process.env.E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
}
