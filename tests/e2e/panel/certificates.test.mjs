// The certificates page of the panel (issue 10) in Debian chromium against a real `hostplane serve
// --dev`: a site whose zone is hosted on the built-in DNS gets its certificate from AutoSSL (our
// own ACME CA, http-01 on the web node); the page lists it with its names, issuer, expiry in days,
// status and source; the downloaded PEM parses with `openssl x509` and names the site; revoking
// asks for a reason (a missing one is named) and a confirmation, the CA's CRL then lists the old
// serial with the reason, and the page shows the revocation and the replacement. 360 px, Japanese,
// no console errors.
//
//   node certificates.test.mjs <hostplane binary> <artefact dir>
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { check, log, poll, freePort, startServer, openBrowser, screenshots, checkPage, apiSignup, apiSession, uiSignIn, Failure } from './lib.mjs';

const [bin, artifacts] = process.argv.slice(2);
if (!bin || !artifacts) {
  console.error('usage: node certificates.test.mjs <hostplane binary> <artefact dir>');
  process.exit(2);
}

// GET with the bytes as they came (a DER CRL is not text).
function fetchBytes(url, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, servername: 'localhost', timeout: 10000 }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}
const openssl = (args, input) => execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

let s, b, page, shot;
try {
  const webPort = await freePort();
  s = await startServer(bin, {
    HOSTPLANE_PROVISIONING_WEB_LISTEN: `127.0.0.1:${webPort}`,
    HOSTPLANE_ACME_VA_HTTP_PORT: String(webPort),
    HOSTPLANE_PROVISIONING_STOP_WAIT_MS: '2000',
    HOSTPLANE_JOBS_WORKERS: '4',
  });
  const email = 'certs@example.com', password = 'Correct horse 42';
  const signup = await apiSignup(s, { email, password, organization: 'Certs Org' });
  const orgId = signup.organization.id;
  const call = await apiSession(s, email, password);
  const domain = 'certs-panel.example.test';
  const orgPath = `/api/v1/organizations/${orgId}`;

  // The name resolves to the web node through the built-in DNS; the site is created and AutoSSL
  // requests its certificate when it becomes active.
  let r = await call('POST', `${orgPath}/zones`, { name: domain });
  check(r.status === 201, `zone: ${r.status} ${r.body}`);
  for (const owner of ['@', 'www']) {
    const rec = await call('POST', `${orgPath}/zones/${r.json.id}/records`, { name: owner, type: 'A', data: '127.0.0.1' });
    check(rec.status === 201, `record ${owner}: ${rec.status} ${rec.body}`);
  }
  r = await call('POST', `${orgPath}/sites`, { domain, quota_mib: 100 });
  check(r.status === 202, `site: ${r.status} ${r.body}`);
  const siteId = r.json.site.id;
  // A first attempt may meet an nginx worker that has not loaded the site yet: request again.
  let requested = 0;
  const cert = await poll('certificate issued', async () => {
    const l = await call('GET', `${orgPath}/certificates`);
    const c = (l.json?.items || []).find((i) => i.domain === domain);
    if (c?.status === 'failed' && requested++ < 3) await call('POST', `${orgPath}/sites/${siteId}/certificates`, { domain });
    return c?.status === 'valid' && c.deployed ? c : null;
  }, 120000, 500);
  log(`certificate ${cert.serial} issued`);

  b = await openBrowser();
  page = b.page;
  shot = screenshots(page, artifacts);
  await uiSignIn(page, s.base, email, password);
  await page.goto(`${s.base}/app/#/orgs/${orgId}/certificates`);
  await page.getByRole('heading', { name: 'Certificates', level: 1 }).waitFor();
  const row = page.locator(`tr[data-cert="${domain}"]`);
  await row.waitFor();
  const text = await row.textContent();
  check(text.includes(domain), 'row without the name');
  check(text.includes(cert.issuer) && cert.issuer.length > 0, `row without the issuer ${cert.issuer}: ${text}`);
  check(/in \d+ days/.test(text), `row without the expiry in days: ${text}`);
  check(text.includes('AutoSSL'), `row without the source: ${text}`);
  // www. is bundled into the same certificate (every site has www.<domain>).
  check(text.includes(`www.${domain}`), `row does not show the bundled www name: ${text}`);
  await page.getByRole('cell', { name: domain, exact: true }).waitFor();
  await row.locator('[data-status="valid"]').waitFor();
  await checkPage(page, 'certificates page');
  await shot('certificates');

  // Download: a PEM chain that openssl parses, naming the site; no private key.
  const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: `Download ${domain}.pem` }).click()]);
  check(download.suggestedFilename() === `${domain}.pem`, `file name ${download.suggestedFilename()}`);
  const pemPath = path.join(artifacts, `${domain}.pem`);
  await download.saveAs(pemPath);
  const pem = fs.readFileSync(pemPath, 'utf8');
  check(!pem.includes('PRIVATE KEY'), 'the download contains a private key');
  const x509 = openssl(['x509', '-noout', '-serial', '-ext', 'subjectAltName,crlDistributionPoints'], pem);
  check(x509.includes(`DNS:${domain}`) && x509.includes(`DNS:www.${domain}`), `certificate does not name ${domain} and www.${domain}:\n${x509}`);
  const serial = /serial=([0-9A-Fa-f]+)/.exec(x509)[1].toLowerCase();
  check(serial.replace(/^0+/, '') === cert.serial.replace(/^0+/, ''), `serial ${serial} is not ${cert.serial}`);
  const crlUrl = /URI:(\S+\/acme\/crl\/\S+)/.exec(x509)?.[1];
  check(crlUrl, `no CRL distribution point:\n${x509}`);
  await page.locator('#status').getByText(`Downloaded ${domain}.pem`).waitFor();
  log('PEM downloaded and parsed');

  // Revoke: the reason is required (named), then a confirmation, then the operation's outcome.
  await row.locator('details[data-revoke] > summary').click();
  const revokeForm = page.getByRole('form', { name: `Revoke the certificate of ${domain}` });
  await revokeForm.getByRole('button', { name: 'Revoke' }).click();
  await revokeForm.locator('.field-error', { hasText: /^Reason: / }).waitFor();
  await revokeForm.getByLabel('Reason').selectOption('keyCompromise');
  await shot('revoke-reason');
  await revokeForm.getByRole('button', { name: 'Revoke' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  check((await dialog.textContent()).includes('replacement'), 'the confirmation does not say the certificate is replaced');
  await shot('revoke-confirm');
  await dialog.getByRole('button', { name: 'Revoke and replace' }).click();
  await page.locator('#status').getByText(`The certificate of ${domain} was revoked`).waitFor({ timeout: 60000 });
  // The page shows the revocation, then the replacement becomes active by itself after a reload.
  await poll('replacement shown', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Certificates', level: 1 }).waitFor();
    const rr = page.locator(`tr[data-cert="${domain}"]`);
    if (!(await rr.locator(`[data-revoked="${cert.serial}"]`).count())) return false;
    return (await rr.locator('[data-status="valid"]').count()) > 0;
  }, 90000, 1000);
  const after = await page.locator(`tr[data-cert="${domain}"]`).textContent();
  check(/was revoked on .*Reason: The private key was exposed/.test(after), `no revocation note: ${after}`);
  await shot('revoked-and-replaced');

  // The CA: its CRL lists the old serial with reason keyCompromise; the new certificate differs.
  const crlPath = new URL(crlUrl).pathname;
  const crl = await fetchBytes(`${s.base}${crlPath}`, s.ca);
  check(crl.status === 200, `CRL: ${crl.status}`);
  const crlText = openssl(['crl', '-inform', 'DER', '-noout', '-text'], crl.body);
  const listed = crlText.toLowerCase().replace(/\s+/g, ' ');
  check(listed.includes(`serial number: ${serial}`) || listed.includes(`serial number: ${serial.replace(/^0+/, '')}`), `serial ${serial} not in the CRL:\n${crlText.slice(0, 2000)}`);
  check(/Key Compromise/.test(crlText), 'CRL entry without reason keyCompromise');
  const now = (await call('GET', `${orgPath}/certificates`)).json.items.find((i) => i.domain === domain);
  check(now.serial !== cert.serial && now.revoked?.serial === cert.serial, `record after revocation: ${JSON.stringify(now)}`);
  log('revoked at the CA and replaced');

  // 360 px and Japanese.
  await page.setViewportSize({ width: 360, height: 800 });
  await page.reload();
  await page.locator(`tr[data-cert="${domain}"]`).waitFor();
  await checkPage(page, 'certificates page at 360 px');
  await shot('certificates-360');
  await page.evaluate(() => localStorage.setItem('hp.lang', 'ja'));
  await page.reload();
  await page.getByRole('heading', { name: '証明書', level: 1 }).waitFor();
  check((await page.locator(`tr[data-cert="${domain}"]`).textContent()).includes('失効しました'), 'no Japanese revocation note');
  await shot('certificates-ja');

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
