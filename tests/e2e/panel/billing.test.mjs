// The billing pages of the panel (issues 8 and 10) in Debian chromium against a real `hostplane
// serve --dev`: a customer's card payment, a refund made in the (simulated) card gateway's own
// dashboard whose webhook issued a credit note, and metered usage reported by the platform are
// shown on the Payments page (payments with what was refunded, refunds and credit notes) and the
// Usage page (this period per meter); the referral code form names its field on errors and
// attributes the organization to the agency; 360 px, Japanese, no console errors.
//
//   node billing.test.mjs <hostplane binary> <artefact dir>
import { check, log, poll, startServer, staffSession, openBrowser, screenshots, checkPage, apiSignup, apiSession, uiSignIn, Failure } from './lib.mjs';

const [bin, artifacts] = process.argv.slice(2);
if (!bin || !artifacts) {
  console.error('usage: node billing.test.mjs <hostplane binary> <artefact dir>');
  process.exit(2);
}

let s, b, page, shot;
try {
  s = await startServer(bin);
  const staff = await staffSession(s);
  let r = await staff('POST', '/api/v1/admin/billing/products', { code: 'shared-s', kind: 'shared_plan', name: 'Shared S', tax_rate: 10 });
  check(r.status === 201, `product: ${r.status} ${r.body}`);
  r = await staff('POST', '/api/v1/admin/billing/products/shared-s/prices', { period: 'monthly', price: 1000, setup_fee: 500 });
  check(r.status === 201, `price: ${r.status} ${r.body}`);

  const email = 'billing@example.com', password = 'Correct horse 42';
  const signup = await apiSignup(s, { email, password, organization: 'Billing Org' });
  const orgId = signup.organization.id;
  const call = await apiSession(s, email, password);
  const orgPath = `/api/v1/organizations/${orgId}`;
  r = await call('POST', `${orgPath}/subscriptions`, { product: 'shared-s', period: 'monthly' });
  check(r.status === 201, `order: ${r.status} ${r.body}`);
  const subId = r.json.id;

  // Usage reported by the platform (staff/service route), once per key (a retry repeats the
  // whole report, its time included).
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  for (const [metric, quantity, key] of [['certificates', 3, 'c-1'], ['bandwidth_gb', 12, 'bw-1'], ['bandwidth_gb', 12, 'bw-1']]) {
    r = await staff('POST', `/api/v1/admin/billing/organizations/${orgId}/usage`, { subscription: subId, metric, quantity, idempotency_key: key, occurred_at: at });
    check(r.status === 201 || r.status === 200, `usage: ${r.status} ${r.body}`);
  }

  // Staff run billing; the customer pays ¥1,650 by card; ¥550 is refunded in the gateway's dashboard.
  r = await staff('POST', '/api/v1/admin/billing/runs', {});
  check(r.status === 202, `run: ${r.status} ${r.body}`);
  const runId = r.json.id;
  await poll('billing run', async () => (await staff('GET', `/api/v1/admin/billing/runs/${runId}`)).json?.state === 'succeeded', 20000);
  const inv = (await call('GET', `${orgPath}/invoices`)).json.items[0];
  check(inv?.total === 1650, `invoice: ${JSON.stringify(inv)}`);
  r = await call('POST', `${orgPath}/invoices/${inv.id}/payments`, { card_token: 'tok_visa' });
  check(r.status === 202, `pay: ${r.status} ${r.body}`);
  await poll('invoice paid', async () => (await call('GET', `${orgPath}/invoices/${inv.id}`)).json?.status === 'paid', 20000);
  const pay = (await call('GET', `${orgPath}/payments`)).json.items[0];
  r = await staff('POST', '/api/v1/admin/billing/dev/gateway-dashboard/refunds', { organization: orgId, payment: pay.id, amount: 550 });
  check(r.status === 202, `dashboard refund: ${r.status} ${r.body}`);
  const note = await poll('credit note for the dashboard refund', async () =>
    (await call('GET', `${orgPath}/invoices`)).json.items.find((i) => i.kind === 'credit_note'), 20000);
  check(note.total === 550 && /-CN-/.test(note.number), `credit note: ${JSON.stringify(note)}`);
  log(`paid ${inv.number}, dashboard refund credited by ${note.number}`);

  b = await openBrowser();
  page = b.page;
  shot = screenshots(page, artifacts);
  await uiSignIn(page, s.base, email, password);

  // Payments: the card payment with what was refunded, and the credit note.
  await page.goto(`${s.base}/app/#/orgs/${orgId}/billing`);
  await page.getByRole('heading', { name: 'Billing', level: 1 }).waitFor();
  await page.getByRole('navigation', { name: 'Billing sections' }).getByRole('link', { name: 'Payments' }).click();
  await page.getByRole('heading', { name: 'Payments', level: 1 }).waitFor();
  const payRow = page.locator(`tr[data-payment="${pay.id}"]`);
  await payRow.waitFor();
  const payText = await payRow.textContent();
  check(payText.includes(inv.number) && payText.includes('Card') && payText.includes('¥1,650') && payText.includes('¥550'), `payment row: ${payText}`);
  check(payText.includes('partly refunded'), `payment state: ${payText}`);
  const noteRow = page.locator(`tr[data-credit-note="${note.number}"]`);
  const noteText = await noteRow.textContent();
  check(noteText.includes('¥550') && noteText.includes(inv.number), `credit note row: ${noteText}`);
  check((await page.locator('[data-received]').textContent()) === '¥1,650', 'received total');
  check((await page.locator('[data-refunded]').textContent()) === '¥550', 'refunded total');
  await checkPage(page, 'payments page');
  await shot('payments');

  // Usage this period per meter; the retried bandwidth report counts once.
  await page.getByRole('navigation', { name: 'Billing sections' }).getByRole('link', { name: 'Usage' }).click();
  await page.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
  const certs = await page.locator('tr[data-meter="certificates"]').textContent();
  check(certs.includes('Certificates issued') && certs.includes('shared-s'), `certificates row: ${certs}`);
  check((await page.locator('tr[data-meter="certificates"] [data-quantity]').textContent()) === '3', 'certificates quantity');
  const bw = await page.locator('tr[data-meter="bandwidth_gb"]').textContent();
  check(bw.includes('Bandwidth') && bw.includes('12 GB'), `bandwidth row (counted once): ${bw}`);
  await checkPage(page, 'usage page');
  await shot('usage');

  // Referral code: missing and unknown codes are named; a real one attributes the organization.
  await page.getByRole('navigation', { name: 'Billing sections' }).getByRole('link', { name: 'Invoices' }).click();
  const refForm = page.getByRole('form', { name: 'Referral code' });
  await refForm.getByRole('button', { name: 'Apply code' }).click();
  await refForm.locator('.field-error', { hasText: /^Referral code: / }).waitFor();
  await refForm.getByLabel('Referral code').fill('REF-NOSUCHCODE');
  await refForm.getByRole('button', { name: 'Apply code' }).click();
  await refForm.locator('.field-error', { hasText: /^Referral code: .*no such referral code/ }).waitFor();
  r = await staff('POST', '/api/v1/admin/partners', { name: 'Agency E2E', channel: 'agency' });
  check(r.status === 201, `agency: ${r.status} ${r.body}`);
  const agency = r.json.id;
  r = await staff('PUT', `/api/v1/admin/billing/partners/${agency}`, { commission_bp: 1000 });
  check(r.status === 200, `terms: ${r.status} ${r.body}`);
  r = await staff('POST', `/api/v1/admin/billing/partners/${agency}/referral-codes`, {});
  check(r.status === 201, `code: ${r.status} ${r.body}`);
  // The agency's sign-up link keeps the code in this browser; the billing form comes prefilled.
  await page.goto(`${s.base}/app/#/signup?referral=${r.json.code}`);
  await page.getByTestId('signup-referral').filter({ hasText: r.json.code }).waitFor();
  await page.goto(`${s.base}/app/#/orgs/${orgId}/billing`);
  await page.getByTestId('referral-from-link').waitFor();
  check(await refForm.getByLabel('Referral code').inputValue() === r.json.code, 'referral code not prefilled from the sign-up link');
  await refForm.getByLabel('Referral code').fill(r.json.code.toLowerCase());  // codes are case-insensitive
  await refForm.getByRole('button', { name: 'Apply code' }).click();
  await page.locator('#status').getByText('Referral code applied.').waitFor();
  const codes = await staff('GET', `/api/v1/admin/billing/partners/${agency}/referral-codes`);
  check(codes.json.items[0].redemptions === 1, `redemptions: ${codes.body}`);
  check(await page.evaluate(() => localStorage.getItem('hp.referral')) === null, 'the applied code is still kept in the browser');
  await shot('referral');

  // 360 px and Japanese.
  await page.setViewportSize({ width: 360, height: 800 });
  for (const [path, heading] of [['billing/payments', 'Payments'], ['billing/usage', 'Usage'], ['billing', 'Billing']]) {
    await page.goto(`${s.base}/app/#/orgs/${orgId}/${path}`);
    await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
    await checkPage(page, `${path} at 360 px`);
    await shot(`${path.replace('/', '-')}-360`);
  }
  await page.evaluate(() => localStorage.setItem('hp.lang', 'ja'));
  await page.goto(`${s.base}/app/#/orgs/${orgId}/billing/payments`);
  await page.reload();  // the language is read when the app loads
  await page.getByRole('heading', { name: 'お支払い', level: 1 }).waitFor();
  check((await page.locator(`tr[data-payment="${pay.id}"]`).textContent()).includes('一部返金'), 'no Japanese payment state');
  await page.getByRole('heading', { name: '返金と返還請求書' }).waitFor();
  await page.goto(`${s.base}/app/#/orgs/${orgId}/billing/usage`);
  await page.getByRole('heading', { name: '従量利用', level: 1 }).waitFor();
  check((await page.locator('tr[data-meter="certificates"]').textContent()).includes('証明書発行数'), 'no Japanese meter name');
  await checkPage(page, 'usage page in Japanese at 360 px');
  await shot('usage-ja-360');

  check(b.errors.server.length === 0, `server errors: ${b.errors.server.join(', ')}`);
  check(b.errors.console.length === 0, `console errors:\n  ${b.errors.console.join('\n  ')}`);
  log(`PASS (screenshots in ${artifacts})`);
} catch (err) {
  process.exitCode = 1;
  if (shot) await shot('failure').catch(() => {});
  console.error(`FAIL: ${err instanceof Failure ? err.message : err.stack}`);
  if (b?.errors.console.length) console.error(`console errors:\n  ${b.errors.console.join('\n  ')}`);
  if (s) console.error(`---- server log (tail)\n${s.logTail(60)}`);
} finally {
  if (b) await b.browser.close().catch(() => {});
  if (s) await s.stop();
}
