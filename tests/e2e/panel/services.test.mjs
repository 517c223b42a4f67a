// The service pages of the panel (issue 10) in Debian chromium against a real `hostplane serve
// --dev` (libvirt test:// hosts, the built-in DNS): a VPS created with visible progress, shut
// down, snapshotted, resized, started again; DNS records edited and deleted with field-named
// errors; plan ordering errors; every page keyboard-reachable, labelled, at 360 px and in Japanese;
// no console errors.
//
//   node services.test.mjs <hostplane binary> <artefact dir>
import fs from 'node:fs';
import path from 'node:path';
import { check, log, poll, startServer, staffSession, openBrowser, screenshots, checkPage, apiSignup, uiSignIn, apiSession, Failure } from './lib.mjs';

const [bin, artifacts] = process.argv.slice(2);
if (!bin || !artifacts) {
  console.error('usage: node services.test.mjs <hostplane binary> <artefact dir>');
  process.exit(2);
}
let s, b, page, shot;
try {
  // Every UI string key is defined once per language: a key added twice in one table silently
  // replaces the first (an invitation heading once showed as the invoice page's title).
  const webJs = new URL('../../../controlplane/web/js/', import.meta.url);
  for (const f of fs.readdirSync(webJs).filter((x) => /^i18n.*\.js$/.test(x))) {
    for (const table of fs.readFileSync(new URL(f, webJs), 'utf8').split(/^(?=(?:export )?const ja\b)/m)) {
      const seen = new Set();
      for (const [, key] of table.matchAll(/'([\w.-]+)':/g)) {
        check(!seen.has(key), `${f}: UI string '${key}' defined twice`);
        seen.add(key);
      }
    }
  }
  // Four job workers: mail is not queued behind provisioning and AutoSSL retries.
  s = await startServer(bin, { HOSTPLANE_JOBS_WORKERS: '4' });
  const email = 'ops@example.com', password = 'Correct horse 42';
  const signup = await apiSignup(s, { email, password, organization: 'Ops Org' });
  const orgId = signup.organization.id;
  b = await openBrowser();
  page = b.page;
  shot = screenshots(page, artifacts);
  await uiSignIn(page, s.base, email, password);
  const orgNav = page.getByRole('navigation', { name: 'Organization' });

  // VPS: create with progress; a bad host name and a zero-size plan are named first.
  await page.goto(`${s.base}/app/#/orgs/${orgId}/vps`);
  await page.getByRole('heading', { name: 'VPS', level: 1 }).waitFor();
  await page.getByLabel('Host name').fill('web 1');
  await page.getByRole('button', { name: 'Create VPS' }).click();
  await page.locator('.field-error', { hasText: /^Host name: may contain only/ }).waitFor();
  await page.getByLabel('Host name').fill('web1');
  await page.getByLabel('vCPUs').fill('0');
  await page.getByRole('button', { name: 'Create VPS' }).click();
  await page.locator('.field-error', { hasText: /^vCPUs: must be a whole number/ }).waitFor();
  check(await page.evaluate(() => document.activeElement.name) === 'plan.vcpus', 'focus not on vCPUs');
  await page.getByLabel('vCPUs').fill('1');
  await page.getByLabel('Image').fill('no-such-image');
  await page.getByRole('button', { name: 'Create VPS' }).click();
  await page.locator('.field-error', { hasText: /^Image: / }).waitFor();
  await shot('vps-field-errors');
  await page.getByLabel('Image').fill('tiny');
  await page.getByRole('button', { name: 'Create VPS' }).click();
  // The progress ends in its outcome, announced in the status region that stays for the next page.
  await page.getByRole('heading', { name: 'web1', level: 1 }).waitFor({ timeout: 60000 });
  await page.locator('#status').getByText('Creating web1: done.').waitFor();
  await page.locator('[data-state="running"]').waitFor();
  check((await page.getByTestId('console').textContent()).length > 0, 'console output section is empty');
  await shot('vps-running');
  log('VPS created');

  // Power: shut down (confirmation dialog, keyboard), then a snapshot, a resize, start.
  await page.getByRole('button', { name: 'Shut down' }).click();
  await page.getByRole('dialog').waitFor();
  check(await page.evaluate(() => document.activeElement.textContent) === 'Cancel', 'dialog focus not on Cancel');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.locator('[data-state="stopped"], [data-state="shutoff"]').first().waitFor({ timeout: 60000 });
  await page.getByLabel('Snapshot name').fill('before-upgrade');
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  await page.getByRole('cell', { name: 'before-upgrade', exact: true }).waitFor({ timeout: 60000 });
  const resize = page.getByRole('form', { name: 'Resize' });
  await resize.getByLabel('Disk (GiB)').fill('5');
  await resize.getByRole('button', { name: 'Resize' }).click();
  await page.locator('.field-error', { hasText: /^Disk \(GiB\): can only grow/ }).waitFor();
  await resize.getByLabel('Memory (MiB)').fill('2048');
  await resize.getByLabel('Disk (GiB)').fill('20');
  await resize.getByRole('button', { name: 'Resize' }).click();
  await page.getByText('2048 MiB RAM, 20 GiB disk').first().waitFor({ timeout: 60000 });
  await shot('vps-resized');
  await page.getByRole('button', { name: 'Start' }).click();
  await page.locator('[data-state="running"]').waitFor({ timeout: 60000 });
  await checkPage(page, 'VPS page');
  log('VPS power, snapshot, resize');

  // TOTP enrolment shows the otpauth URI as a QR code drawn by the server (SVG, no-store), with an
  // accessible name; the enrolment is left unconfirmed (sign-in stays password-only).
  await page.goto(`${s.base}/app/#/account`);
  await page.getByRole('button', { name: 'Turn on two-step sign-in' }).click();
  const qr = page.getByRole('img', { name: /QR code of the authenticator link/ });
  await qr.waitFor();
  await poll('QR image loaded', async () => qr.evaluate((img) => img.complete && img.naturalWidth > 100));
  const qrResp = await page.evaluate(async () => {
    const r = await fetch('/api/v1/me/totp/qr', { credentials: 'same-origin' });
    return { status: r.status, type: r.headers.get('content-type'), cache: r.headers.get('cache-control'), body: await r.text() };
  });
  check(qrResp.status === 200 && qrResp.type.startsWith('image/svg+xml'), `QR: ${qrResp.status} ${qrResp.type}`);
  check(/no-store/.test(qrResp.cache || ''), `QR cache-control: ${qrResp.cache}`);
  check(/^<svg [^>]*viewBox="0 0 (\d+) \1"/.test(qrResp.body) && qrResp.body.length > 2000, `QR is not a square SVG: ${qrResp.body.slice(0, 120)}`);
  check((await page.getByTestId('totp-uri').textContent()).startsWith('otpauth://totp/'), 'no otpauth URI next to the QR code');
  await checkPage(page, 'TOTP enrolment with QR');
  await shot('totp-qr');
  log('TOTP QR code');

  // Dedicated servers: reserve from the inventory with progress, power off and on, release.
  await page.goto(`${s.base}/app/#/orgs/${orgId}/dedicated`);
  await page.getByRole('heading', { name: 'Dedicated servers', level: 1 }).waitFor();
  await page.getByText('No dedicated servers yet').waitFor();
  const reserve = page.getByRole('form', { name: 'Reserve a dedicated server' });
  await reserve.getByLabel('Host name').fill('db 1');
  await reserve.getByRole('button', { name: 'Reserve server' }).click();
  await page.locator('.field-error', { hasText: /^Host name: may contain only/ }).waitFor();
  await reserve.getByLabel('Host name').fill('db1');
  await reserve.getByRole('button', { name: 'Reserve server' }).click();
  await page.locator('#status').getByText('Reserving db1: done.').waitFor({ timeout: 90000 });
  const dedRow = page.locator('tr[data-server="db1"]');
  await dedRow.locator('[data-state="active"]').waitFor();
  if (await dedRow.locator('[data-power="off"]').count()) {
    await page.getByRole('button', { name: 'Power on db1' }).click();
    await dedRow.locator('[data-power="on"]').waitFor({ timeout: 60000 });
  }
  await shot('dedicated-active');
  await page.getByRole('button', { name: 'Power off db1' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Power off' }).click();
  await dedRow.locator('[data-power="off"]').waitFor({ timeout: 60000 });
  await page.locator('#status').getByText('Power off db1: done.').waitFor();
  await page.getByRole('button', { name: 'Power on db1' }).click();
  await dedRow.locator('[data-power="on"]').waitFor({ timeout: 60000 });
  // The inventory's only dedicated host is taken: a second reservation names the zone field.
  await reserve.getByLabel('Host name').fill('db2');
  await reserve.getByRole('button', { name: 'Reserve server' }).click();
  await page.locator('.field-error', { hasText: /^Zone: no dedicated host can take a dedicated server/ }).waitFor({ timeout: 30000 });
  await shot('dedicated-none-free');
  await page.getByRole('button', { name: 'Reset db1' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Reset' }).click();
  await page.locator('#status').getByText('Reset db1: done.').waitFor({ timeout: 60000 });
  await checkPage(page, 'dedicated servers');
  await page.setViewportSize({ width: 360, height: 740 });
  await page.getByRole('button', { name: 'Release db1' }).waitFor();
  await checkPage(page, 'dedicated servers at 360 px');
  await shot('360-dedicated-server');
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.getByRole('button', { name: 'Release db1' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Release' }).click();
  await page.locator('#status').getByText('Release db1: done.').waitFor({ timeout: 90000 });
  await poll('db1 released', async () => (await dedRow.count()) === 0 || (await dedRow.locator('[data-state="released"]').count()) === 1, 15000);
  await shot('dedicated-released');
  log('dedicated: reserve, power off/on, release');

  // DNS: zone, record, edit, delete.
  await orgNav.getByRole('link', { name: 'DNS' }).click();
  await page.getByRole('button', { name: 'Add zone' }).click();
  await page.locator('.field-error', { hasText: /^Zone name: is required/ }).waitFor();
  await page.getByLabel('Zone name').fill('ops.example.test');
  await page.getByRole('button', { name: 'Add zone' }).click();
  await page.getByRole('heading', { name: 'ops.example.test.', level: 1 }).waitFor();
  await page.getByLabel(/^Name/).fill('mail');
  await page.getByLabel(/^Type/).selectOption('MX');
  await page.getByLabel('Value', { exact: true }).fill('mail.ops.example.test.');
  await page.getByRole('button', { name: 'Add record' }).click();
  await page.locator('.field-error', { hasText: /^Value: needs a preference/ }).waitFor();
  await page.getByLabel('Value', { exact: true }).fill('10 mail.ops.example.test.');
  await page.getByRole('button', { name: 'Add record' }).click();
  await page.getByRole('cell', { name: 'mail.ops.example.test.', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Edit MX record mail.ops.example.test.' }).click();
  const edit = page.getByRole('form', { name: 'Edit MX record mail.ops.example.test.' });
  await edit.getByLabel('Value', { exact: true }).fill('20 mx2.ops.example.test.');
  await edit.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('cell', { name: '20 mx2.ops.example.test.' }).waitFor();
  await page.getByRole('button', { name: 'Delete MX record mail.ops.example.test.' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByText('Record deleted.').waitFor();
  await shot('dns');
  log('DNS records');

  // Plans: an empty catalog says what to do; then the operator puts two plans on sale: order,
  // change with the prorated preview, cancel at the period end.
  await orgNav.getByRole('link', { name: 'Plans' }).click();
  await page.getByText('Nothing is on sale right now').waitFor();
  const staff = await staffSession(s);
  for (const [code, name, price] of [['shared-basic', 'Shared Basic', 1000], ['shared-pro', 'Shared Pro', 3000]]) {
    let r = await staff('POST', '/api/v1/admin/billing/products', { code, kind: 'shared_plan', name, tax_rate: 10 });
    check(r.status === 201 || r.status === 200, `product: ${r.status} ${r.body}`);
    r = await staff('POST', `/api/v1/admin/billing/products/${code}/prices`, { period: 'monthly', price, setup_fee: 0 });
    check(r.status === 201 || r.status === 200, `price: ${r.status} ${r.body}`);
  }
  await page.reload();
  await page.getByLabel('Plan', { exact: true }).selectOption({ label: 'Shared Basic, monthly: ¥1,000 (setup ¥0)' });
  await page.getByRole('button', { name: 'Order', exact: true }).click();
  await page.getByText('Shared Basic ordered.').waitFor();
  await page.getByRole('button', { name: 'Change plan Shared Basic' }).click();
  const change = page.getByRole('form', { name: 'Change plan Shared Basic' });
  await change.getByLabel('New plan').selectOption({ label: 'Shared Pro, monthly: ¥3,000 (setup ¥0)' });
  await page.getByTestId('proration').waitFor();
  check(/credit ¥[\d,]+ .* charge ¥[\d,]+; net ¥[\d,-]+/.test(await page.getByTestId('proration').textContent()), 'no prorated preview');
  await shot('plan-change-preview');
  await change.getByRole('button', { name: 'Change now' }).click();
  await page.getByText('Changed to Shared Pro.').waitFor();
  await page.getByRole('button', { name: 'Cancel Shared Pro' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel the plan' }).click();
  await page.getByText('ends at period end').waitFor();
  await shot('plan-cancelled');
  log('plans: order, change, cancel');
  await orgNav.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('heading', { name: 'At a glance' }).waitFor();
  await page.getByRole('link', { name: '1 VPS' }).waitFor();
  await page.getByText('Nothing is due.').first().waitFor();

  // Pending invitations: listed, sent again (a new link), withdrawn.
  const other = 'other@example.com';
  await orgNav.getByRole('link', { name: 'Overview' }).click();
  await page.getByText('No pending invitations.').waitFor();
  await page.getByLabel('E-mail address').fill(other);
  await page.getByRole('button', { name: 'Invite a member' }).click();
  await page.getByRole('button', { name: `Resend the invitation to ${other}` }).click();
  await page.getByText(`Invitation sent again to ${other}.`).waitFor();
  await poll('two invitation e-mails', async () => fs.readdirSync(path.join(s.varDir, 'mail')).filter((f) => fs.readFileSync(path.join(s.varDir, 'mail', f), 'utf8').includes(`To: ${other}`)).length === 2);
  await page.getByRole('button', { name: `Withdraw the invitation to ${other}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Withdraw' }).click();
  await page.getByText(`Invitation to ${other} withdrawn.`).waitFor();
  await page.getByText('No pending invitations.').waitFor();
  log('invitations: resend, withdraw');

  // Users and roles: invite a colleague (they accept), change their role, remove them.
  const mate = 'mate@example.com';
  await apiSignup(s, { email: mate, password, organization: 'Mate Org' });
  await orgNav.getByRole('link', { name: 'Overview' }).click();
  await page.getByLabel('E-mail address').fill(mate);
  await page.getByLabel('Role (optional)').selectOption('operator');
  await page.getByRole('button', { name: 'Invite a member' }).click();
  const inviteMail = await poll('invitation e-mail', async () => {
    const dir = path.join(s.varDir, 'mail');
    const m = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).find((x) => x.includes(`To: ${mate}`) && x.includes('accept-invitation'));
    return m ? /accept-invitation\?token=(?:3D)?([A-Za-z0-9_-]{20,})\s/.exec(m.replace(/=\r?\n/g, '')) : null;
  });
  const inviteToken = [null, inviteMail[1]];
  const mateApi = await apiSession(s, mate, password);
  const acc = await mateApi('POST', '/api/v1/invitations/accept', { token: inviteToken[1] || inviteToken[2] });
  check(acc.status === 200 || acc.status === 201, `accept invitation: ${acc.status} ${acc.body}`);
  await page.reload();
  const roleSel = page.getByLabel(`Role of ${mate}`);
  check(await roleSel.inputValue() === 'operator', 'invited role not shown');
  await roleSel.selectOption('viewer');
  await page.getByText(`${mate} is now`).waitFor();
  const me = await mateApi('GET', `/api/v1/organizations/${orgId}`);
  check(me.json?.role === 'viewer', `role not changed: ${me.body}`);
  await page.getByRole('button', { name: `Remove ${mate} from the organization` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.getByText(`${mate} was removed.`).waitFor();
  check((await mateApi('GET', `/api/v1/organizations/${orgId}`)).status === 404, 'removed member still sees the organization');
  await shot('members');
  log('members: invite, role change, removal');

  // A site's own actions: a new SFTP password shown once, suspend and resume, delete; each long
  // action followed to its outcome.
  await orgNav.getByRole('link', { name: 'Sites' }).click();
  await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
  const siteDomain = 'ops-site.example.test';
  await page.getByRole('form', { name: 'Add a domain' }).getByLabel('Domain').fill(siteDomain);
  await page.getByRole('button', { name: 'Add domain' }).click();
  const siteRow = page.locator(`tr[data-domain="${siteDomain}"]`);
  // No DNS for this name: AutoSSL fails and the row says why in plain words, with the raw error
  // under Details.
  await siteRow.getByText(/Last error: the domain does not resolve\. Add an A record/).waitFor({ timeout: 90000 });
  await siteRow.getByText('Details').click();
  await siteRow.locator('details code').getByText(/no A or AAAA records|dns/i).waitFor();
  await shot('site-https-failed');
  await siteRow.getByRole('button', { name: `New SFTP password for ${siteDomain}` }).click({ timeout: 60000 });
  check((await page.getByTestId('sftp-password').textContent()).length >= 12, 'no SFTP password shown');
  await page.getByRole('button', { name: `Suspend ${siteDomain}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Suspend' }).click();
  await siteRow.getByText('suspended', { exact: true }).waitFor({ timeout: 60000 });
  await shot('site-suspended');
  await page.getByRole('button', { name: `Resume ${siteDomain}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();
  await siteRow.getByText('active', { exact: true }).first().waitFor({ timeout: 60000 });
  await page.getByRole('button', { name: `Delete the site ${siteDomain}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.locator('#status').getByText(`Deleting ${siteDomain}: done.`).waitFor({ timeout: 60000 });
  await poll('site gone from the list', async () => (await siteRow.count()) === 0 || (await siteRow.textContent()).includes('terminated'), 10000);
  log('site: SFTP password, suspend, resume, delete');

  // Keyboard: the organization's section links are reachable with Tab.
  await page.goto(`${s.base}/app/#/orgs/${orgId}/vps`);
  await page.getByRole('heading', { name: 'VPS', level: 1 }).waitFor();
  let reached = false;
  for (let i = 0; i < 30 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.textContent === 'DNS');
  }
  check(reached, 'the DNS section link is not reachable with Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'DNS', level: 1 }).waitFor();

  // 360 px and Japanese.
  await page.setViewportSize({ width: 360, height: 740 });
  for (const p of ['vps', 'dedicated', 'dns', 'plans', 'certificates', 'billing', '']) {
    await page.goto(`${s.base}/app/#/orgs/${orgId}${p ? `/${p}` : ''}`);
    await page.locator('nav[aria-label="Organization"] a[aria-current="page"]').waitFor();
    await checkPage(page, `${p || 'overview'} at 360 px`);
    await shot(`360-${p || 'overview'}`);
  }
  await page.getByRole('link', { name: 'VPS', exact: true }).click();
  await page.getByRole('link', { name: 'web1' }).click();
  await page.getByRole('heading', { name: 'web1', level: 1 }).waitFor();
  await checkPage(page, 'VPS detail at 360 px');
  await shot('360-vps-detail');
  await page.setViewportSize({ width: 1280, height: 860 });

  // VPS rebuild from an image (confirmed) and delete (the host name typed to confirm), each
  // followed to its outcome.
  await page.getByRole('form', { name: 'Rebuild' }).getByLabel('Image').fill('tiny');
  await page.getByRole('button', { name: 'Rebuild VPS' }).click();
  await page.getByRole('dialog').getByText('Rebuild web1 from tiny?').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Rebuild' }).click();
  await page.locator('#status').getByText('Rebuilding web1: done.').waitFor({ timeout: 90000 });
  await page.getByRole('heading', { name: 'web1', level: 1 }).waitFor();
  await page.getByText('No snapshots.').waitFor();
  await shot('vps-rebuilt');
  const del = page.getByRole('form', { name: 'Delete VPS' });
  await del.getByLabel('Type the host name to confirm').fill('web2');
  await del.getByRole('button', { name: 'Delete VPS' }).click();
  await page.locator('.field-error', { hasText: /^Type the host name to confirm: type web1 exactly/ }).waitFor();
  await del.getByLabel('Type the host name to confirm').fill('web1');
  await del.getByRole('button', { name: 'Delete VPS' }).click();
  await page.getByRole('heading', { name: 'VPS', level: 1 }).waitFor({ timeout: 90000 });
  await page.locator('#status').getByText('web1 deleted.').waitFor();
  await poll('web1 gone', async () => (await page.getByRole('link', { name: 'web1' }).count()) === 0, 15000);
  await checkPage(page, 'VPS list after delete');
  log('VPS rebuild, delete');

  await page.goto(`${s.base}/app/#/orgs/${orgId}/vps`);
  await page.getByRole('button', { name: 'Switch the language to Japanese' }).click();
  await page.getByRole('heading', { name: 'VPS', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'VPS を作成' }).click();
  await page.locator('.field-error', { hasText: /^ホスト名:/ }).waitFor();
  await shot('ja-vps');

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
