// Partner portal: price list and sell prices, orders, API keys and members, in Debian chromium
// against a real `hostplane serve --dev`. A reseller's owner (added by staff) sees list, buy and
// sell prices; a sell price below the buy price and a non-integer price are refused naming the
// field; a valid one shows its margin; a customer's order appears on the orders page at that
// price; an API key is created (secret shown once), signs a /partner/v1 request, and is revoked;
// an address without an account is invited and the invitee joins through the mailed link in a
// second browser; a colleague is added as admin (a bad address named first) and removed. A
// customer's portal page lists its site and VPS (ordered through the partner API), re-issues the
// site name's certificate, and opens the VPS on the customer's own page where the partner operator
// takes a snapshot (audited as partner_operator). An agency's
// commission page shows the statement status (open, nothing due, then paid with the payout's
// reference after a referred customer paid and staff paid the closed month out on the dev clock)
// and a referral code minted in the portal with its sign-up link. 360 px, Japanese, no console
// errors.
//
//   node partner-portal.test.mjs <hostplane binary> <artefact dir>
import crypto from 'node:crypto';
import { check, log, poll, startServer, staffSession, apiSession, openBrowser, screenshots, checkPage, apiSignup, uiSignIn, request, Failure } from './lib.mjs';

const [bin, artifacts] = process.argv.slice(2);
if (!bin || !artifacts) {
  console.error('usage: node partner-portal.test.mjs <hostplane binary> <artefact dir>');
  process.exit(2);
}

// A /partner/v1 request signed as docs/partners.md says: HMAC-SHA256 over method, path, query,
// timestamp and the body's SHA-256 after the line "HMAC-SHA256", newline-separated, hex.
async function signed(s, key, method, p, body = '') {
  const ts = String(Math.floor(Date.now() / 1000));
  const [pathOnly, query = ''] = p.split('?');
  const bodyHash = crypto.createHash('sha256').update(body).digest('hex');
  const sig = crypto.createHmac('sha256', key.secret).update(['HMAC-SHA256', method, pathOnly, query, ts, bodyHash].join('\n')).digest('hex');
  return request(`${s.base}${p}`, { ca: s.ca, method, body: body || undefined,
    headers: { 'X-Partner-Key-Id': key.id, 'X-Partner-Timestamp': ts, 'X-Partner-Signature': sig, ...(body ? { 'Content-Type': 'application/json' } : {}) } });
}

let s, b, inv, page, shot, owner2;
try {
  s = await startServer(bin);
  const email = 'owner@nagoya-reseller.test', password = 'Correct horse 42';
  const colleague = 'kana@nagoya-reseller.test';
  await apiSignup(s, { email, password, organization: 'Nagoya Reseller KK' });
  await apiSignup(s, { email: colleague, password, name: 'Kana Ito', organization: 'Kana own org' });
  const staff = await staffSession(s);
  let r = await staff('POST', '/api/v1/admin/partners', { name: 'Nagoya Hosting', channel: 'reseller' });
  check(r.status === 201, `partner: ${r.status} ${r.body}`);
  const partnerId = r.json.id;
  r = await staff('POST', `/api/v1/admin/partners/${partnerId}/members`, { email, role: 'owner' });
  check(r.status === 201, `partner member: ${r.status} ${r.body}`);
  r = await staff('POST', '/api/v1/admin/billing/products', { code: 'web-pro', kind: 'shared_plan', name: 'Web Pro' });
  check(r.status === 201, `product: ${r.status} ${r.body}`);
  r = await staff('POST', '/api/v1/admin/billing/products/web-pro/prices', { period: 'monthly', price: 3000, setup_fee: 0 });
  check(r.status === 201, `list price: ${r.status} ${r.body}`);
  const ownOrg = (await staff('GET', '/api/v1/admin/organizations')).json.items.find((o) => o.name === 'Nagoya Reseller KK');
  r = await staff('PUT', `/api/v1/admin/billing/partners/${partnerId}`, {
    issuer: { name: 'Nagoya Hosting KK', registration_number: 'T3333333333333', address: 'Nagoya' },
    invoice_prefix: 'NGY', billing_organization_id: ownOrg?.id });
  check(r.status === 200, `billing terms: ${r.status} ${r.body}`);
  r = await staff('POST', `/api/v1/admin/billing/partners/${partnerId}/prices`, { kind: 'wholesale', product: 'web-pro', period: 'monthly', price: 2000 });
  check(r.status === 201, `wholesale: ${r.status} ${r.body}`);
  log(`reseller ${partnerId}: list ¥3,000, wholesale ¥2,000`);

  b = await openBrowser();
  page = b.page;
  shot = screenshots(page, artifacts);
  await uiSignIn(page, s.base, email, password);
  await page.getByRole('link', { name: /Nagoya Hosting reseller owner/ }).click();
  await page.getByRole('heading', { name: 'Nagoya Hosting', level: 1 }).waitFor();
  const nav = page.getByRole('navigation', { name: 'Partner' });

  // 1. The price list: list and buy price, not on sale yet; then a sell price and its margin.
  await nav.getByRole('link', { name: 'Price list' }).click();
  await page.getByRole('heading', { name: 'Price list', level: 1 }).waitFor();
  const row = page.locator('tr[data-product="web-pro"][data-period="monthly"]');
  await row.getByRole('cell', { name: '¥3,000', exact: true }).waitFor();
  await row.getByRole('cell', { name: '¥2,000', exact: true }).waitFor();
  await row.getByText('not on sale').waitFor();
  await checkPage(page, 'price list');
  await page.getByLabel('Sell price (yen per period)').fill('25.5');
  await page.getByRole('button', { name: 'Set a sell price' }).click();
  await page.locator('.field-error', { hasText: /^Sell price \(yen per period\): must be a whole number of yen/ }).waitFor();
  await page.getByLabel('Sell price (yen per period)').fill('1500');
  await page.getByRole('button', { name: 'Set a sell price' }).click();
  await page.locator('.field-error', { hasText: /^Sell price \(yen per period\): must be at least your buy price of ¥2,000/ }).waitFor();
  // The server refuses it too, naming the field (the panel's check is only a shortcut).
  const owner = await apiSession(s, email, password);
  r = await owner('POST', `/api/v1/partners/${partnerId}/sell-prices`, { product: 'web-pro', price: 1500 });
  check(r.status === 400 && r.json.field === 'price' && /wholesale/.test(r.json.detail), `below wholesale accepted: ${r.status} ${r.body}`);
  await page.getByLabel('Effective from').fill('2001-02-03');
  await page.getByLabel('Sell price (yen per period)').fill('2600');
  await page.getByRole('button', { name: 'Set a sell price' }).click();
  await page.locator('.field-error', { hasText: /^Effective from: must be today/ }).waitFor();
  const today = (await owner('GET', `/api/v1/partners/${partnerId}/price-list`)).json.date;
  await page.getByLabel('Effective from').fill(today);
  await page.getByRole('button', { name: 'Set a sell price' }).click();
  await page.getByText(`Sell price of web-pro set: ¥2,600 from ${today}.`).first().waitFor();
  await page.getByTestId('margin-web-pro-monthly').getByText('¥600', { exact: true }).waitFor();
  await row.getByText(`since ${today}`).waitFor();
  await shot('price-list-margin');
  log('sell price ¥2,600, margin ¥600');

  // 2. An order of a customer at that price shows on the orders page.
  r = await owner('POST', `/api/v1/partners/${partnerId}/customers`, { name: 'Midori Bakery' });
  check(r.status === 201, `customer: ${r.status} ${r.body}`);
  const midori = r.json.id;
  r = await owner('POST', `/api/v1/partners/${partnerId}/customers/${midori}/subscriptions`, { product: 'web-pro' });
  check(r.status === 201 && r.json.period_price === 2600, `order: ${r.status} ${r.body}`);
  await nav.getByRole('link', { name: 'Orders' }).click();
  await page.getByRole('heading', { name: 'Orders', level: 1 }).waitFor();
  await page.getByRole('link', { name: 'Midori Bakery' }).waitFor();
  await page.getByRole('cell', { name: '¥2,600', exact: true }).waitFor();
  await checkPage(page, 'orders');
  await shot('orders');
  log('orders page');

  // 2b. The customer's services on its portal page: a site and a VPS ordered through the partner
  // API; the site name's certificate is re-issued from the page; the VPS opens on the customer's
  // own VPS page (resize, rebuild, snapshots) for the partner operator.
  const cbase = `/api/v1/partners/${partnerId}/customers/${midori}`;
  const waitOp = async (what, res) => {
    check(res.status === 202, `${what}: ${res.status} ${res.body}`);
    await poll(what, async () => {
      const st = (await owner('GET', res.json.operation.url)).json.state;
      if (st === 'failed') throw new Failure(`${what} failed`);
      return st === 'succeeded';
    }, 60000);
  };
  await waitOp('site', await owner('POST', `${cbase}/sites`, { domain: 'midori-bakery.test', quota_mib: 100 }));
  await waitOp('vps', await owner('POST', `${cbase}/vps`, { hostname: 'midori-vm', template: 'tiny', plan: { vcpus: 1, ram_mib: 512, disk_gib: 2 } }));
  await page.goto(`${s.base}/app/#/partners/${partnerId}/customers/${midori}`);
  await page.getByRole('heading', { name: 'Midori Bakery', level: 1 }).waitFor();
  const services = page.getByTestId('customer-services');
  await services.locator('tr[data-site]').getByText('midori-bakery.test').waitFor();
  await services.locator('tr[data-cert="midori-bakery.test"]').waitFor();
  await services.getByRole('button', { name: 'Issue the certificate of midori-bakery.test now' }).click();
  await page.getByText('Certificate of midori-bakery.test requested.').first().waitFor();
  r = await owner('GET', `${cbase}/site-certificates`);
  check(r.status === 200 && r.json.items.some((x) => x.domain === 'midori-bakery.test'), `site certificates: ${r.status} ${r.body}`);
  await checkPage(page, 'partner customer services');
  await shot('customer-services');
  await services.locator('tr[data-vps]').getByText('1 vCPU, 512 MiB RAM, 2 GiB disk').waitFor();
  await services.getByRole('link', { name: 'Open the VPS midori-vm' }).click();
  await page.getByRole('heading', { name: 'Snapshots' }).waitFor();
  await page.getByRole('heading', { name: 'Resize' }).first().waitFor();
  await page.getByLabel('Snapshot name').fill('before-migration');
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  await page.getByRole('cell', { name: 'before-migration', exact: true }).waitFor({ timeout: 60000 });
  r = await staff('GET', `/api/v1/admin/audit-events?organization=${midori}&action=vps.snapshot.create`);
  check(r.status === 200 && r.json.items.some((e) => e.actor_type === 'partner_operator' && e.result === 'success'),
    `snapshot not audited as the partner operator: ${r.status} ${r.body}`);
  await checkPage(page, 'customer VPS page as partner operator');
  await shot('customer-vps-as-operator');
  log('customer services: site certificate re-issued; VPS page opened, snapshot taken as partner operator');
  await page.goto(`${s.base}/app/#/partners/${partnerId}`);
  await page.getByRole('heading', { name: 'Nagoya Hosting', level: 1 }).waitFor();

  // 3. API keys: create (secret shown once), it signs a request, then revoke it.
  await nav.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  await page.getByText('No API keys yet.').waitFor();
  await page.getByRole('button', { name: 'Create API key' }).click();
  await page.locator('.field-error', { hasText: /^Name: is required/ }).waitFor();
  await page.getByLabel('Name').fill('billing system');
  await page.getByRole('button', { name: 'Create API key' }).click();
  const key = { id: await page.getByTestId('key-id').textContent(), secret: await page.getByTestId('key-secret').textContent() };
  check(key.id.length > 8 && key.secret.length >= 32, `key looks wrong: ${key.id} ${key.secret.length}`);
  await page.locator(`tr[data-key="${key.id}"]`).getByText('billing system').waitFor();
  await page.locator(`tr[data-key="${key.id}"]`).getByText('active', { exact: true }).waitFor();
  r = await signed(s, key, 'GET', '/partner/v1/partner');
  check(r.status === 200 && JSON.parse(r.body).id === partnerId, `signed call with the new key: ${r.status} ${r.body}`);
  await shot('api-key-created');
  await page.getByRole('button', { name: `Revoke key ${key.id}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.locator(`tr[data-key="${key.id}"]`).getByText('revoked', { exact: true }).waitFor();
  await page.getByText(`Key ${key.id} revoked.`).first().waitFor();
  check(await page.getByTestId('key-secret').count() === 0, 'the secret is still shown after the page was redrawn');
  r = await signed(s, key, 'GET', '/partner/v1/partner');
  check(r.status === 401, `revoked key still works: ${r.status}`);
  await checkPage(page, 'API keys');
  log('API key created, used, revoked');

  // 4. Members: a bad address is named; an address without an account is invited (the invitee
  // signs up, opens the mailed link and joins as viewer); a colleague added as admin, then removed.
  await nav.getByRole('link', { name: 'Members' }).click();
  await page.getByRole('heading', { name: 'Members', level: 1 }).waitFor();
  await page.getByRole('cell', { name: `${email} (you)` }).waitFor();
  await page.getByLabel('E-mail address').fill('nobody-at-nagoya');
  await page.getByRole('button', { name: 'Add a member' }).click();
  await page.locator('.field-error', { hasText: /^E-mail address: is not an e-mail address/ }).waitFor();
  const invitee = 'sora@nagoya-reseller.test';
  await page.getByLabel('E-mail address').fill(invitee);
  await page.getByLabel('Role').selectOption('viewer');
  await page.getByRole('button', { name: 'Add a member' }).click();
  await page.getByText(`Invitation sent to ${invitee}.`).first().waitFor();
  await page.getByRole('region', { name: 'Pending invitations' }).getByRole('cell', { name: invitee }).waitFor();
  await shot('member-invited');
  const itoken = await poll('invitation e-mail', async () =>
    /\/app\/#\/partner-invitation\?token=([A-Za-z0-9_-]{20,})\s/.exec(s.newestMail(invitee, 'invited to the partner Nagoya Hosting') || '')?.[1], 30000);
  await apiSignup(s, { email: invitee, password, name: 'Sora Abe', organization: 'Sora own org' });
  inv = await openBrowser();
  await uiSignIn(inv.page, s.base, invitee, password);
  await inv.page.goto(`${s.base}/app/#/partner-invitation?token=${itoken}`);
  await inv.page.getByRole('heading', { name: 'Join a partner', level: 1 }).waitFor();
  await checkPage(inv.page, 'accept a partner invitation');
  await inv.page.getByRole('button', { name: 'Accept the invitation' }).click();
  await inv.page.getByRole('heading', { name: 'Nagoya Hosting', level: 1 }).waitFor();
  await inv.page.getByText('You joined Nagoya Hosting as viewer.').first().waitFor();
  await inv.page.screenshot({ path: `${artifacts}/invitee-joined.png`, fullPage: true });
  await page.reload();
  await page.getByRole('cell', { name: invitee, exact: true }).waitFor();
  check(await page.getByRole('region', { name: 'Pending invitations' }).count() === 0, 'the accepted invitation is still pending');
  await page.getByLabel('E-mail address').fill(colleague);
  await page.getByLabel('Role').selectOption('admin');
  await page.getByRole('button', { name: 'Add a member' }).click();
  await page.getByText(`${colleague} is now admin.`).first().waitFor();
  const mrow = page.getByRole('row').filter({ hasText: colleague });
  await mrow.getByText('admin', { exact: true }).waitFor();
  await mrow.getByText('Kana Ito').waitFor();
  await shot('members');
  const kana = await apiSession(s, colleague, password);
  r = await kana('GET', `/api/v1/partners/${partnerId}`);
  check(r.status === 200 && r.json.role === 'admin', `colleague's role: ${r.status} ${r.body}`);
  await page.getByRole('button', { name: `Remove ${colleague}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.getByText(`${colleague} removed.`).first().waitFor();
  // The announcement comes before the page is redrawn: wait for the row to go.
  await poll('removed member gone from the list', async () => (await page.getByRole('row').filter({ hasText: colleague }).count()) === 0, 10000);
  r = await kana('GET', `/api/v1/partners/${partnerId}`);
  check(r.status === 404, `removed member still sees the partner: ${r.status}`);
  await checkPage(page, 'members');
  log('member added and removed');

  // 5. An agency (the same user is its owner): the commission page shows the statement's status
  // (this month open, last month nothing due), and the agency mints a referral code whose sign-up
  // link is shown.
  r = await staff('POST', '/api/v1/admin/partners', { name: 'Kyoto Referrals', channel: 'agency' });
  check(r.status === 201, `agency: ${r.status} ${r.body}`);
  const agencyId = r.json.id;
  r = await staff('POST', `/api/v1/admin/partners/${agencyId}/members`, { email, role: 'owner' });
  check(r.status === 201, `agency member: ${r.status} ${r.body}`);
  r = await staff('PUT', `/api/v1/admin/billing/partners/${agencyId}`, { commission_bp: 800 });
  check(r.status === 200, `agency terms: ${r.status} ${r.body}`);
  await page.goto(`${s.base}/app/#/partners/${agencyId}/commission`);
  await page.getByRole('heading', { name: 'Commission', level: 1 }).waitFor();
  await page.getByTestId('commission-status').getByText('Open (month not over)').waitFor();
  const statusOf = async (month) => (await owner('GET', `/api/v1/partners/${agencyId}/commission-statements?month=${month}`)).json.status;
  const now = new Date();
  const thisMonth = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  const prev = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const lastMonth = `${prev.getUTCFullYear()}-${String(prev.getUTCMonth() + 1).padStart(2, '0')}`;
  check(await statusOf(thisMonth) === 'open', `this month's status: ${await statusOf(thisMonth)}`);
  await page.getByLabel('Month').fill(lastMonth);
  await page.getByRole('button', { name: 'Show statement' }).click();
  await page.locator('[data-testid="commission-status"][data-status="nothing_due"]').getByText('Nothing due').waitFor();
  check(await statusOf(lastMonth) === 'nothing_due', `last month's status: ${await statusOf(lastMonth)}`);
  const refs = page.getByTestId('referrals');
  await refs.getByText('No referral codes yet.').waitFor();
  await refs.getByRole('button', { name: 'Create a referral code' }).click();
  const codeRow = page.locator('tr[data-code]');
  await codeRow.first().waitFor();
  const code = await codeRow.first().getAttribute('data-code');
  check(/^REF-[A-Z2-7]{12}$/.test(code || ''), `referral code looks wrong: ${code}`);
  await page.getByText(`Referral code ${code} created.`).first().waitFor();
  const link = await codeRow.first().getByTestId('referral-link').inputValue();
  check(link === `${s.base}/app/#/signup?referral=${code}` || link.endsWith(`/app/#/signup?referral=${code}`), `sign-up link: ${link}`);
  r = await owner('GET', `/api/v1/partners/${agencyId}/referral-codes`);
  check(r.status === 200 && r.json.items.length === 1 && r.json.items[0].code === code, `referral codes: ${r.status} ${r.body}`);
  r = await staff('GET', `/api/v1/admin/billing/partners/${agencyId}/referral-codes`);
  check(r.status === 200 && r.json.items.some((x) => x.code === code), `staff view of the code: ${r.status} ${r.body}`);
  await checkPage(page, 'agency commission and referral codes');
  await shot('agency-commission-referral');
  // A customer redeems the code and pays a ¥3,000 invoice (8% = ¥240 commission); after the month
  // is over (dev clock) staff pay it out and the page shows it paid with the transfer reference.
  const buyer = 'buyer@kyoto-customer.test';
  await apiSignup(s, { email: buyer, password, organization: 'Kyoto Customer KK' });
  const cust = await apiSession(s, buyer, password);
  const custOrg = (await staff('GET', '/api/v1/admin/organizations')).json.items.find((o) => o.name === 'Kyoto Customer KK');
  const corg = `/api/v1/organizations/${custOrg.id}`;
  r = await cust('POST', `${corg}/referral`, { code });
  check(r.status === 201 && r.json.partner === agencyId, `redeem: ${r.status} ${r.body}`);
  r = await cust('POST', `${corg}/subscriptions`, { product: 'web-pro' });
  check(r.status === 201, `referred order: ${r.status} ${r.body}`);
  r = await staff('POST', '/api/v1/admin/billing/runs', {});
  check(r.status === 202, `billing run: ${r.status} ${r.body}`);
  const runId = r.json.id;
  await poll('billing run', async () => (await staff('GET', `/api/v1/admin/billing/runs/${runId}`)).json.state === 'succeeded', 20000);
  const inv0 = (await cust('GET', `${corg}/invoices`)).json.items.find((i) => i.kind === 'invoice');
  r = await cust('POST', `${corg}/invoices/${inv0.id}/payments`, { card_token: 'tok_visa' });
  check(r.status === 202, `card payment: ${r.status} ${r.body}`);
  await poll('invoice paid', async () => (await cust('GET', `${corg}/invoices/${inv0.id}`)).json.status === 'paid', 20000);
  const paidMonth = inv0.issue_date.slice(0, 7);
  await s.advance(32 * 86400);
  const staff2 = await apiSession(s, 'staff@hostplane.test', 'Staff password 42');
  owner2 = await apiSession(s, email, password);
  r = await owner2('GET', `/api/v1/partners/${agencyId}/commission-statements?month=${paidMonth}`);
  check(r.json.status === 'unpaid' && r.json.net === 240, `statement before the payout: ${r.status} ${r.body}`);
  r = await staff2('POST', `/api/v1/admin/billing/partners/${agencyId}/commission-payouts`, { month: paidMonth, reference: 'KYOTO-PAYOUT-1' });
  check(r.status === 201, `payout: ${r.status} ${r.body}`);
  // The month-old session is gone: start the browser's afresh and sign in again.
  await page.context().clearCookies();
  await page.goto(`${s.base}/app/#/signin`);
  await page.reload();
  await uiSignIn(page, s.base, email, password);
  await page.goto(`${s.base}/app/#/partners/${agencyId}/commission`);
  await page.getByRole('heading', { name: 'Commission', level: 1 }).waitFor();
  await page.getByLabel('Month').fill(paidMonth);
  await page.getByRole('button', { name: 'Show statement' }).click();
  await page.locator('[data-testid="commission-status"][data-status="paid"]').getByText('Paid', { exact: true }).waitFor();
  await page.getByTestId('commission-payout').getByText(/reference KYOTO-PAYOUT-1/).waitFor();
  await page.getByTestId('commission-totals').getByText('¥240', { exact: true }).first().waitFor();
  await page.locator(`tr[data-code="${code}"]`).getByRole('cell', { name: '1', exact: true }).waitFor();
  await checkPage(page, 'agency commission paid');
  await shot('agency-commission-paid');
  log(`agency commission status shown; referral code ${code} minted, link ${link}`);

  // 6. 360 px and Japanese.
  await page.setViewportSize({ width: 360, height: 740 });
  for (const p of ['/prices', '/orders', '/keys', '/members', `/customers/${midori}`]) {
    await page.goto(`${s.base}/app/#/partners/${partnerId}${p}`);
    await page.locator('nav[aria-label="Partner"] a[aria-current="page"]').waitFor();
    await checkPage(page, `partner ${p} at 360 px`);
    await shot(`360-partner-${p.slice(1).replace('/', '-')}`);
  }
  await page.goto(`${s.base}/app/#/partners/${agencyId}/commission`);
  await page.locator('tr[data-code]').first().waitFor();
  await checkPage(page, 'agency commission at 360 px');
  await shot('360-partner-commission');
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(`${s.base}/app/#/partners/${partnerId}/prices`);
  await page.getByRole('heading', { name: 'Price list', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Switch the language to Japanese' }).click();
  await page.getByRole('heading', { name: '価格表', level: 1 }).waitFor();
  await page.getByRole('columnheader', { name: '仕入価格' }).waitFor();
  await page.getByLabel('販売価格(1 期間あたりの円)').fill('10');
  await page.getByRole('button', { name: '販売価格を設定' }).click();
  await page.locator('.field-error', { hasText: /仕入価格 ¥2,000 以上にしてください/ }).waitFor();
  await shot('ja-price-list');
  await page.goto(`${s.base}/app/#/partners/${agencyId}/commission`);
  await page.getByRole('heading', { name: '紹介コード', level: 2 }).waitFor();
  // (the page opens on the browser's month, which the dev clock has since closed and paid out)
  await page.getByTestId('commission-status').getByText('支払済み', { exact: true }).waitFor();
  await page.getByTestId('commission-payout').getByText(/振込参照 KYOTO-PAYOUT-1/).waitFor();
  await page.getByRole('button', { name: '紹介コードを作成' }).waitFor();
  await checkPage(page, 'agency commission in Japanese');
  await shot('ja-commission');

  for (const e of [b.errors, inv.errors]) {
    check(e.server.length === 0, `server errors: ${e.server.join(', ')}`);
    check(e.console.length === 0, `console errors:\n  ${e.console.join('\n  ')}`);
  }
  log(`PASS (screenshots in ${artifacts})`);
} catch (err) {
  process.exitCode = 1;
  if (shot) await shot('failure').catch(() => {});
  console.error(`FAIL: ${err instanceof Failure ? err.message : err.stack}`);
  for (const x of [b, inv]) if (x?.errors.console.length) console.error(`console errors:\n  ${x.errors.console.join('\n  ')}`);
  if (s) console.error(`---- server log (tail)\n${s.logTail(60)}`);
} finally {
  for (const x of [b, inv]) if (x) await x.browser.close().catch(() => {});
  if (s) await s.stop();
}
