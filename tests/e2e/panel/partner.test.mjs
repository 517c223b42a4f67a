// Partner portal and acceptance scenario 2 of issue 10, in Debian chromium against a real
// `hostplane serve --dev`: an OEM partner's owner (added by staff) signs in, creates a customer,
// mints EAB credentials, sets the branding in the editor with its live preview (bad colour named
// first), subscribes a webhook receiver and reads the delivery log after suspending the customer;
// then the OEM's panel host name (mapped to 127.0.0.1 with --host-resolver-rules) serves /app/ and
// / with only the OEM's brand: page text, title and logo URL. No console errors.
//
//   node partner.test.mjs <hostplane binary> <artefact dir>
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { check, log, poll, startServer, staffSession, openBrowser, screenshots, checkPage, apiSignup, uiSignIn, request, Failure } from './lib.mjs';

const [bin, artifacts] = process.argv.slice(2);
if (!bin || !artifacts) {
  console.error('usage: node partner.test.mjs <hostplane binary> <artefact dir>');
  process.exit(2);
}
let s, b, oem, page, shot, receiver, cdn;
try {
  s = await startServer(bin, {
    HOSTPLANE_PARTNER_WEBHOOKS_ALLOW_HTTP: 'true',
    HOSTPLANE_PARTNER_WEBHOOKS_ALLOWED_PRIVATE_CIDRS: '127.0.0.0/8',
  });
  // The partner's webhook receiver (plain HTTP on loopback) and the OEM's logo server.
  const received = [];
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { received.push({ headers: req.headers, body }); res.writeHead(204); res.end(); });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;
  cdn = https.createServer({ cert: fs.readFileSync(path.join(s.varDir, 'tls', 'server.crt')), key: fs.readFileSync(path.join(s.varDir, 'tls', 'server.key')) },
    (req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'no-store' });
      res.end('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="#c2185b"/></svg>');
    });
  await new Promise((r) => cdn.listen(0, '127.0.0.1', r));
  const logoUrl = `https://cdn.sakura.test:${cdn.address().port}/logo.svg`;

  // Staff: the OEM partner and its first owner.
  const email = 'owner@sakura.test', password = 'Correct horse 42';
  await apiSignup(s, { email, password, organization: 'Sakura Cloud KK' });
  const staff = await staffSession(s);
  let r = await staff('POST', '/api/v1/admin/partners', { name: 'Sakura Cloud', channel: 'oem' });
  check(r.status === 201, `partner: ${r.status} ${r.body}`);
  const partnerId = r.json.id;
  r = await staff('POST', `/api/v1/admin/partners/${partnerId}/members`, { email, role: 'owner' });
  check(r.status === 201 || r.status === 200, `partner member: ${r.status} ${r.body}`);
  r = await staff('POST', '/api/v1/admin/billing/products', { code: 'shared-basic', kind: 'shared_plan', name: 'Shared Basic', tax_rate: 10 });
  check(r.status === 201 || r.status === 200, `product: ${r.status} ${r.body}`);
  r = await staff('POST', '/api/v1/admin/billing/products/shared-basic/prices', { period: 'monthly', price: 1000, setup_fee: 0 });
  check(r.status === 201 || r.status === 200, `price: ${r.status} ${r.body}`);
  // The OEM bills its customers itself: issuer, invoice series, and its sell price.
  const ownOrg = (await staff('GET', `/api/v1/admin/organizations`)).json.items.find((o) => o.name === 'Sakura Cloud KK');
  r = await staff('PUT', `/api/v1/admin/billing/partners/${partnerId}`, {
    issuer: { name: 'Sakura Cloud KK', registration_number: 'T1234567890123', address: '1-2-3 Sakura, Tokyo' },
    invoice_prefix: 'SKR', billing_organization_id: ownOrg?.id });
  check(r.status === 200 || r.status === 201, `OEM billing terms: ${r.status} ${r.body}`);
  r = await staff('POST', `/api/v1/admin/billing/partners/${partnerId}/prices`, { kind: 'sell', product: 'shared-basic', period: 'monthly', price: 1200, setup_fee: 0 });
  check(r.status === 200 || r.status === 201, `OEM sell price: ${r.status} ${r.body}`);
  log(`partner ${partnerId} with its owner`);

  b = await openBrowser();
  page = b.page;
  shot = screenshots(page, artifacts);
  await uiSignIn(page, s.base, email, password);
  await page.getByRole('link', { name: /Sakura Cloud oem owner/ }).click();
  await page.getByRole('heading', { name: 'Sakura Cloud', level: 1 }).waitFor();
  const nav = page.getByRole('navigation', { name: 'Partner' });

  // 1. A customer (empty name named first), its EAB credentials shown once.
  await page.getByRole('button', { name: 'Add customer' }).click();
  await page.locator('.field-error', { hasText: /^Organization name: is required/ }).waitFor();
  await page.getByLabel('Organization name').fill('Kaito Cafe');
  await page.getByRole('button', { name: 'Add customer' }).click();
  await page.getByRole('heading', { name: 'Kaito Cafe', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Create EAB credentials' }).click();
  const kid = await page.getByTestId('eab-kid').textContent();
  const hmac = await page.getByTestId('eab-hmac').textContent();
  check(kid.length > 8 && /^[A-Za-z0-9_-]{20,}$/.test(hmac), `EAB credentials look wrong: ${kid} ${hmac}`);
  await shot('customer-eab');
  // An order for the customer (unknown product named first).
  await page.getByLabel('Product code').fill('no-such-plan');
  await page.getByRole('button', { name: 'Order for this customer' }).click();
  await page.locator('.field-error, .form-error').filter({ hasText: /no product|product/i }).first().waitFor();
  await page.getByLabel('Product code').fill('shared-basic');
  await page.getByRole('button', { name: 'Order for this customer' }).click();
  await page.getByRole('cell', { name: 'shared-basic', exact: true }).waitFor();
  await page.getByRole('cell', { name: '¥1,200', exact: true }).waitFor();
  await shot('customer-order');
  await page.goto(`${s.base}/app/#/partners/${partnerId}`);
  await page.getByRole('cell', { name: 'Kaito Cafe' }).waitFor();
  log('customer and EAB');

  // 2. Branding with the live preview; a bad colour is named.
  await nav.getByRole('link', { name: 'Branding' }).click();
  await page.getByRole('heading', { name: 'Branding', level: 1 }).waitFor();
  await page.getByLabel('Brand name').fill('Sakura Panel');
  check(await page.getByTestId('preview-name').textContent() === 'Sakura Panel', 'preview does not follow the brand name');
  await page.getByLabel(/^Logo URL/).fill(logoUrl);
  check((await page.getByTestId('preview-logo').textContent()).includes(logoUrl), 'preview does not show the logo URL');
  await page.getByLabel(/^Primary colour/).fill('pink');
  await page.getByLabel(/^Panel host name/).fill('panel.sakura.test');
  await page.getByLabel(/^Support e-mail/).fill('help@sakura.test');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.field-error', { hasText: /^Primary colour: must be a colour/ }).waitFor();
  await page.getByLabel(/^Primary colour/).fill('#c2185b');
  check(await page.locator('.preview-button').evaluate((el) => getComputedStyle(el).backgroundColor) === 'rgb(194, 24, 91)', 'preview button not in the primary colour');
  await shot('branding-preview');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Branding saved.').waitFor();
  log('branding saved');

  // 3. A webhook, an event (the customer suspended), the delivery log and its attempts.
  await nav.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  await page.getByLabel(/^URL/).fill(hookUrl);
  await page.getByRole('button', { name: 'Add webhook' }).click();
  const secret = await page.getByTestId('webhook-secret').textContent();
  check(secret.length >= 16, 'no signing secret shown');
  await nav.getByRole('link', { name: 'Customers' }).click();
  await page.getByRole('link', { name: 'Kaito Cafe' }).click();
  await page.getByRole('button', { name: 'Suspend' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Suspend' }).click();
  await page.getByText('suspended', { exact: true }).waitFor();
  await poll('webhook delivered', async () => received.some((x) => x.body.includes('organization.suspended')), 20000, 100);
  await nav.getByRole('link', { name: 'Webhooks' }).click();
  await poll('delivery in the log', async () => {
    await page.getByRole('button', { name: `Deliveries to ${hookUrl}` }).click();
    return (await page.getByRole('cell', { name: 'organization.suspended' }).count()) > 0;
  }, 20000, 500);
  await page.getByRole('button', { name: /^Attempts of delivery/ }).first().click();
  await page.getByText(/HTTP 204/).waitFor();
  await shot('webhook-deliveries');
  await checkPage(page, 'webhooks page');
  log('webhook delivery log');

  // 4. Scenario 2: the OEM's host shows only the OEM's brand, on /app/ and on /.
  const port = new URL(s.base).port;
  oem = await openBrowser({ args: ['--host-resolver-rules=MAP panel.sakura.test 127.0.0.1, MAP cdn.sakura.test 127.0.0.1'] });
  const op = oem.page;
  await op.goto(`https://panel.sakura.test:${port}/app/`);
  await op.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  check(await op.locator('#brand-name').textContent() === 'Sakura Panel', 'OEM host: brand name not in the header');
  check(await op.locator('#brand-logo').getAttribute('src') === logoUrl, 'OEM host: logo is not the OEM logo URL');
  await poll('OEM logo loaded', async () => op.locator('#brand-logo').evaluate((img) => img.complete && img.naturalWidth > 0), 5000);
  const text = await op.evaluate(() => `${document.title} ${document.body.innerText}`);
  check(!/hostplane/i.test(text), `OEM host shows our name: ${text.slice(0, 300)}`);
  check(/Sakura Panel/.test(await op.title()), `OEM title: ${await op.title()}`);
  const html = await op.content();
  check(!/hostplane/i.test(html.replace(/\/app\/[^"]*/g, '')), 'OEM host: our name in the markup');
  check(await op.evaluate(() => getComputedStyle(document.querySelector('button.primary')).backgroundColor) === 'rgb(194, 24, 91)', 'OEM host: primary colour not applied');
  await op.screenshot({ path: path.join(artifacts, 'oem-app.png'), fullPage: true });
  await op.goto(`https://panel.sakura.test:${port}/`);
  const landing = await op.evaluate(() => `${document.title} ${document.body.innerText}`);
  check(/Sakura Panel/.test(landing) && !/hostplane/i.test(landing), `OEM landing page: ${landing.slice(0, 300)}`);
  await op.screenshot({ path: path.join(artifacts, 'oem-landing.png'), fullPage: true });
  // Our own host keeps our brand.
  const ours = await request(`${s.base}/app/`, { ca: s.ca });
  check(ours.body.includes('<span id="brand-name">hostplane</span>') && !ours.body.includes('Sakura'), 'our host lost its brand');
  const theirs = await request(`${s.base}/app/`, { ca: s.ca, headers: { Host: `panel.sakura.test:${port}` } });
  check(theirs.headers.vary === 'Host' && /img-src 'self' data: https:\/\/cdn\.sakura\.test:\d+;/.test(theirs.headers['content-security-policy']), `OEM CSP/Vary: ${theirs.headers.vary} ${theirs.headers['content-security-policy']}`);
  log('OEM host shows only the OEM brand');

  // 5. An agency the same person owns: no customer management, a commission statement and its CSV.
  r = await staff('POST', '/api/v1/admin/partners', { name: 'Kansai Web Agency', channel: 'agency' });
  check(r.status === 201, `agency: ${r.status} ${r.body}`);
  const agencyId = r.json.id;
  r = await staff('PUT', `/api/v1/admin/billing/partners/${agencyId}`, { commission_bp: 1500 });
  check(r.status === 200 || r.status === 201, `agency billing terms: ${r.status} ${r.body}`);
  r = await staff('POST', `/api/v1/admin/partners/${agencyId}/members`, { email, role: 'admin' });
  check(r.status === 201 || r.status === 200, `agency member: ${r.status} ${r.body}`);
  await page.goto(`${s.base}/app/#/`);
  await page.getByRole('link', { name: /Kansai Web Agency agency admin/ }).click();
  await page.getByText('Agencies refer customers').waitFor();
  await page.getByRole('navigation', { name: 'Partner' }).getByRole('link', { name: 'Commission' }).click();
  await page.getByRole('heading', { name: 'Commission', level: 1 }).waitFor();
  await page.getByTestId('commission-totals').getByText('Net commission').waitFor();
  await page.getByText(/^Current rate: 15\.00%/).waitFor();
  const [csvDl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  const csvFile = path.join(artifacts, 'commission.csv');
  await csvDl.saveAs(csvFile);
  check(fs.readFileSync(csvFile, 'utf8').split('\n')[0].includes(','), 'commission CSV has no header row');
  await shot('agency-commission');
  log('agency commission statement');

  // 6. 360 px and Japanese on the portal.
  await page.setViewportSize({ width: 360, height: 740 });
  for (const p of ['', '/branding', '/webhooks']) {
    await page.goto(`${s.base}/app/#/partners/${partnerId}${p}`);
    await page.locator('nav[aria-label="Partner"] a[aria-current="page"]').waitFor();
    await checkPage(page, `partner${p || ' customers'} at 360 px`);
    await shot(`360-partner${p.replace('/', '-') || '-customers'}`);
  }
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.getByRole('button', { name: 'Switch the language to Japanese' }).click();
  await page.getByRole('heading', { name: 'Webhook', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Webhook を追加' }).click();
  await page.locator('.field-error', { hasText: /^URL:/ }).waitFor();
  await shot('ja-webhooks');

  for (const e of [b.errors, oem.errors]) {
    check(e.server.length === 0, `server errors: ${e.server.join(', ')}`);
    check(e.console.length === 0, `console errors:\n  ${e.console.join('\n  ')}`);
  }
  log(`PASS (screenshots in ${artifacts})`);
} catch (err) {
  process.exitCode = 1;
  if (shot) await shot('failure').catch(() => {});
  console.error(`FAIL: ${err instanceof Failure ? err.message : err.stack}`);
  for (const x of [b, oem]) if (x?.errors.console.length) console.error(`console errors:\n  ${x.errors.console.join('\n  ')}`);
  if (s) console.error(`---- server log (tail)\n${s.logTail(60)}`);
} finally {
  for (const x of [b, oem]) if (x) await x.browser.close().catch(() => {});
  receiver?.close();
  cdn?.close();
  if (s) await s.stop();
}
