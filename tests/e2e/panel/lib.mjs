// Shared helpers of the panel browser tests (services, scenarios): a real `hostplane serve --dev`
// on free loopback ports, the outbox, the dev clock, RFC 6238 codes, staff calls, and a Chromium
// page that records every console error, page error and 5xx answer.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export class Failure extends Error {}
export function check(cond, msg) { if (!cond) throw new Failure(msg); }
const t0 = Date.now();
export const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

// A loopback port free now, drawn at random from just below the kernel's ephemeral range: ports
// from bind(0) and the source ports of outgoing connections can be taken by anyone before the
// server binds, these only by another explicit choice (tests/support/free-port, the same rule).
function ephemeralLow() {
  try { return parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0], 10) || 32768; } catch { return 32768; }
}
function tryListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(0));
    s.listen(port, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
export async function freePort() {
  const high = ephemeralLow() - 1, low = Math.max(10000, high - 12000);
  for (let i = 0; high - low >= 1000 && i < 200; i++) {
    const port = await tryListen(low + crypto.randomInt(high - low + 1));
    if (port) return port;
  }
  return tryListen(0);
}

// Polls fn() until it returns a truthy value or the deadline passes (no fixed sleeps).
export async function poll(what, fn, ms = 15000, every = 100) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    const v = await fn().catch((e) => { last = e; return null; });
    if (v) return v;
    if (Date.now() > end) throw new Failure(`${what}: not after ${ms} ms${last ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function request(url, { ca, headers = {}, method = 'GET', body, servername } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = https.request(u, { method, ca, headers, timeout: 10000, servername: servername || (net.isIP(u.hostname) ? 'localhost' : u.hostname) }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (body !== undefined) req.write(body);
    req.end();
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
export function totp(secretB32, seconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = crypto.createHmac('sha1', base32Decode(secretB32)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 1000000).padStart(6, '0');
}
check(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59) === '287082', 'the test TOTP helper disagrees with RFC 6238');

function decodeQuotedPrintable(s) {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

// Starts `hostplane serve --dev` in a fresh temporary directory.
export async function startServer(bin, env = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-panel-e2e-'));
  const varDir = path.join(tmp, 'var');
  const clockFile = path.join(tmp, 'clock');
  fs.writeFileSync(clockFile, '0');
  const port = await freePort();
  const base = `https://localhost:${port}`;
  const serverLog = fs.openSync(path.join(tmp, 'server.log'), 'w');
  const proc = spawn(bin, ['serve', '--dev', '--var', varDir, '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, HOSTPLANE_HTTP_FRONT_WORKERS: '1', HOSTPLANE_DNS_LISTEN: '127.0.0.1:0',
      HOSTPLANE_DEV_CLOCK_FILE: clockFile, HOSTPLANE_JOBS_WORKERS: '2', ...env },
    stdio: ['ignore', serverLog, serverLog],
  });
  const s = { tmp, varDir, base, port, bin, proc, exited: false, ca: null, clockOffset: 0 };
  proc.on('exit', () => { s.exited = true; });
  await poll('server ready', async () => {
    if (s.exited) throw new Failure(`hostplane serve exited:\n${fs.readFileSync(path.join(tmp, 'server.log'), 'utf8').slice(-3000)}`);
    const caFile = path.join(varDir, 'tls', 'server.crt');
    if (!fs.existsSync(caFile)) return false;
    s.ca = fs.readFileSync(caFile);
    return (await request(`${base}/healthz`, { ca: s.ca })).status === 200;
  }, 30000);
  s.advance = async (seconds) => {
    s.clockOffset += seconds;
    fs.writeFileSync(clockFile, String(s.clockOffset));
    const target = Date.now() / 1000 + s.clockOffset - 1;
    await poll('server clock moved', async () => {
      const r = await request(`${base}/healthz`, { ca: s.ca });
      return Date.parse(JSON.parse(r.body).time) / 1000 >= target;
    }, 5000, 20);
  };
  s.newestMail = (to, subject) => {
    const dir = path.join(varDir, 'mail');
    if (!fs.existsSync(dir)) return null;
    const found = fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
      .filter((m) => m.includes(`To: ${to}\r\n`) && m.includes(subject));
    if (!found.length) return null;
    // Only a quoted-printable body is decoded: in a plain one (the dev outbox) "token=4F..." is text.
    const m = found[found.length - 1];
    return /^Content-Transfer-Encoding: quoted-printable\r?$/mi.test(m.split(/\r?\n\r?\n/)[0]) ? decodeQuotedPrintable(m) : m;
  };
  // The log's tail, then (last, so a truncated CI log still shows them) the jobs and every
  // warning or error the server logged.
  s.logTail = (n = 40) => {
    let lines = [];
    try { lines = fs.readFileSync(path.join(tmp, 'server.log'), 'utf8').split('\n'); } catch { /* none */ }
    let jobs;
    try {
      jobs = execFileSync(bin, ['jobs', 'list', '--var', varDir, '--limit', '25'], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) { jobs = `hostplane jobs list failed: ${e.message}`; }
    const warnings = lines.filter((l) => /"level":"(warn|error)"/.test(l)).slice(-15);
    return `${lines.slice(-n).join('\n')}\n---- jobs\n${jobs}\n---- server warnings and errors (${warnings.length})\n${warnings.join('\n')}`;
  };
  s.stop = async () => {
    if (!s.exited) {
      proc.kill('SIGTERM');
      await poll('server stopped', async () => s.exited, 15000).catch(() => proc.kill('SIGKILL'));
    }
    if (!process.env.E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  };
  return s;
}

// A platform staff session (created with `hostplane staff create`), for the operator's side of a
// scenario: catalog prices, billing runs, partners.
export async function staffSession(s, email = 'staff@hostplane.test') {
  const password = 'Staff password 42';
  execFileSync(s.bin, ['staff', 'create', '--email', email, '--var', s.varDir], { input: `${password}\n`, stdio: ['pipe', 'ignore', 'inherit'] });
  return apiSession(s, email, password);
}

// An API session of an existing user: call(method, path, body) -> {status, json, body}.
export async function apiSession(s, email, password) {
  const r = await request(`${s.base}/api/v1/sessions`, { ca: s.ca, method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }) });
  check(r.status === 200 || r.status === 201, `sign-in of ${email}: ${r.status} ${r.body}`);
  const cookie = r.headers['set-cookie'].map((c) => c.split(';')[0]).join('; ');
  const csrf = JSON.parse(r.body).csrf_token;
  return async (method, p, body) => {
    const res = await request(`${s.base}${p}`, { ca: s.ca, method, headers: { Cookie: cookie, 'X-CSRF-Token': csrf, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const json = /json/.test(res.headers['content-type'] || '') && res.body ? JSON.parse(res.body) : null;
    return { status: res.status, json, body: res.body };
  };
}

// Chromium with a page that collects console errors, page errors and 5xx answers. Chromium logs
// every 4xx answer to fetch() as a console error; the API's problem documents for errors a test
// provokes on purpose are allowed (only on /api/v1/).
export async function openBrowser({ args = [], locale = 'en-US' } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.HP_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...args],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, locale, viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const errors = { console: [], server: [] };
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url || '';
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) && url.includes('/api/v1/')) return;
    errors.console.push(`${m.text()} (${url})`);
  });
  page.on('pageerror', (e) => errors.console.push(`page error: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 500) errors.server.push(`${r.status()} ${r.url()}`); });
  return { browser, context, page, errors };
}

export function screenshots(page, dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (/\.(png|csv|html)$/.test(f)) fs.rmSync(path.join(dir, f));
  let n = 0;
  return async (name) => page.screenshot({ path: path.join(dir, `${String(++n).padStart(2, '0')}-${name}.png`), fullPage: true });
}

// Every visible form control has an accessible name, and the page does not scroll sideways.
export async function checkPage(page, what) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('main input, main select, main textarea, main button')]
    .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
    .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
    .map((el) => el.outerHTML.slice(0, 80)));
  check(unlabelled.length === 0, `${what}: controls without a label: ${unlabelled.join(' | ')}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `${what}: page scrolls sideways by ${overflow} px`);
}

// An account made through the API (sign-up, then the e-mail's token), for tests whose subject is
// not the sign-up itself.
export async function apiSignup(s, { email, password, name = 'Test User', organization }) {
  const post = (p, body) => request(`${s.base}${p}`, { ca: s.ca, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const r = await post('/api/v1/signup', { email, password, name, organization_name: organization });
  check(r.status === 201 || r.status === 200, `sign-up: ${r.status} ${r.body}`);
  // Polled until the link is there: the outbox file may be seen while it is still being written.
  const token = await poll('verification e-mail with its link', async () =>
    /verify-email\?token=([A-Za-z0-9_-]{20,})\s/.exec(s.newestMail(email, 'Confirm your e-mail address') || '')?.[1], 30000);
  const v = await post('/api/v1/email/verify', { token });
  check(v.status === 200, `verify: ${v.status} ${v.body}`);
  return JSON.parse(r.body);
}

// Signs in through the panel's form.
export async function uiSignIn(page, base, email, password) {
  await page.goto(`${base}/app/#/signin`);
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
}
