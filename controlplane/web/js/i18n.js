// UI text in English and Japanese. The language is the user's choice (stored), else the browser's
// (navigator.language, which follows Accept-Language). API problem details stay as the API wrote
// them; the panel adds the field's label and, where useful, what to do next in the UI language.

import { en as servicesEn, ja as servicesJa } from './i18n-services.js';
import { en as partnersEn, ja as partnersJa } from './i18n-partners.js';
import { en as certsEn, ja as certsJa } from './i18n-certs.js';
import { en as billingEn, ja as billingJa } from './i18n-billing.js';

const en = {
  'optional': 'optional', 'cancel': 'Cancel', 'save': 'Save', 'saved': 'Saved.', 'copy': 'Copy', 'copied': 'Copied',
  'copy.failed': 'Copy failed: select the text and copy it by hand',
  'lang.switch': 'Switch the language to Japanese', 'skip': 'Skip to content',
  'nav.dashboard': 'Dashboard', 'nav.security': 'Account security', 'nav.signout': 'Sign out', 'nav.signin': 'Sign in', 'nav.signup': 'Create account',
  'signedout': 'You are signed out.', 'session.expired': 'Your session ended. Sign in again to continue.',
  'notfound.title': 'Page not found', 'notfound.back': 'Go to the dashboard',
  'err.title': 'Something went wrong', 'err.unexpected': 'Reload the page and try again.',
  'err.network': 'The server could not be reached: check your connection and try again.',
  'err.rate': 'Too many requests: wait {s} seconds and try again.',
  'err.server': 'Try again in a minute; if it keeps failing, contact support with request id {id}.',
  'err.signin': 'Sign in again and retry.', 'err.field': '{label}: {detail}', 'err.required': 'is required: fill it in.',
  'err.required_export': 'is required for an export: pick a date and time.',
  'err.time': 'is not a valid date and time: use the date picker.',
  'f.email': 'E-mail address', 'f.name': 'Your name', 'f.org_name': 'Organization name',
  'f.org_name.hint': 'Your company or project; you can rename it later.',
  'f.password': 'Password', 'f.password.hint': 'At least 8 characters, mixing at least two of: lower case, upper case, digits, symbols.',
  'f.current_password': 'Current password', 'f.new_password': 'New password',
  'f.totp_code': 'Authenticator code', 'f.totp_code.hint': 'The 6-digit code your authenticator app shows now.',
  'f.recovery_code': 'Recovery code', 'f.recovery_code.hint': 'One of the codes you saved when you turned on two-step sign-in; each works once.',
  'f.role': 'Role', 'f.ip_allowlist': 'IP allow-list', 'f.ip_allowlist.hint': 'One address or CIDR range per line (e.g. 203.0.113.0/24). Empty allows every address. It must include your current address.',
  'f.token_name': 'Token name', 'f.token_name.hint': 'Where the token is used, e.g. "deploy from CI".',
  'f.scopes': 'Scopes (what the token may do)', 'f.expires_at': 'Expires on', 'f.expires_at.hint': 'Leave empty for a token that does not expire.',
  'f.from': 'From', 'f.to': 'To', 'f.action': 'Action', 'f.action.hint': 'Prefix such as token. or session.',
  'signup.title': 'Create your account', 'signup.submit': 'Create account', 'signup.have': 'Already have an account?',
  'signup.sent.title': 'Check your e-mail', 'signup.sent.body': 'We sent a confirmation link to {email}. Open it to activate your account, then sign in.',
  'signup.sent.signin': 'Go to sign in',
  'verify.title': 'Confirm your e-mail address', 'verify.working': 'Confirming your e-mail address…', 'verify.done': 'E-mail address confirmed.',
  'verify.ok': '{email} is confirmed. You can sign in now.', 'verify.signin': 'Sign in',
  'verify.notoken': 'This link has no token. Open the link from the e-mail again, or copy the whole address.',
  'verify.failed': 'The address could not be confirmed:', 'verify.failed.next': 'If the link expired, set a password through',
  'signin.title': 'Sign in', 'signin.submit': 'Sign in', 'signin.forgot': 'Forgot your password?', 'signin.new': 'New here?',
  'signin.totp.title': 'Two-step sign-in', 'signin.totp.body': 'Enter the code from your authenticator app to finish signing in.',
  'signin.verify': 'Verify and sign in', 'signin.use_recovery': 'Use a recovery code instead', 'signin.use_totp': 'Use the authenticator code instead',
  'signin.done': 'Signed in as {email}.',
  'reset.title': 'Reset your password', 'reset.ask': 'Enter your e-mail address and we will send you a link to set a new password.',
  'reset.send': 'Send link', 'reset.sent': 'If an account exists for {email}, an e-mail with a link is on its way.',
  'reset.set': 'Set new password', 'reset.done': 'Password changed. Sign in with the new password.',
  'invite.title': 'Join an organization', 'invite.body': 'Accept the invitation for the account you are signed in with.',
  'invite.accept': 'Accept invitation', 'invite.done': 'You joined {org}.',
  'invite.send': 'Invite a member', 'invite.sent': 'Invitation sent to {email}.',
  'dash.title': 'Dashboard', 'dash.signed_in_as': 'Signed in as {email}', 'dash.orgs': 'Your organizations',
  'dash.none': 'You do not belong to any organization yet: create one below.',
  'dash.create': 'Create an organization', 'dash.created': 'Organization {name} created.',
  'dash.totp_hint': 'Protect your account with two-step sign-in.', 'dash.totp_link': 'Turn it on',
  'org.sections': 'Organization', 'org.overview': 'Overview', 'org.your_role': 'Your role:', 'org.status': 'Status:',
  'org.settings': 'Organization settings',
  'members.title': 'Members', 'members.since': 'Member since',
  'role.owner': 'Owner', 'role.admin': 'Admin', 'role.billing': 'Billing', 'role.operator': 'Operator',
  'role.developer': 'Developer', 'role.auditor': 'Auditor', 'role.viewer': 'Viewer',
  'perm.org.read': 'see the organization and members', 'perm.org.update': 'rename, change the IP allow-list',
  'perm.members.manage': 'invite and remove members', 'perm.tokens.read': 'list API tokens', 'perm.tokens.manage': 'create and revoke API tokens',
  'perm.audit.read': 'read and export the audit log', 'perm.billing.read': 'see invoices and payments', 'perm.billing.manage': 'pay, change plans',
  'perm.services.read': 'see sites, servers, DNS, certificates', 'perm.services.manage': 'create, change and delete services',
  'tokens.title': 'API tokens', 'tokens.list': 'Tokens', 'tokens.none': 'No API tokens yet.', 'tokens.create': 'Create token',
  'tokens.created': 'Created', 'tokens.last_used': 'Last used', 'tokens.never': 'never',
  'tokens.created_title': 'Token "{name}" created', 'tokens.once': 'Copy it now: it is shown only once. If you lose it, revoke it and create another.',
  'tokens.revoke': 'Revoke', 'tokens.revoke.named': 'Revoke token {name}', 'tokens.revoke.title': 'Revoke this token?',
  'tokens.revoke.body': 'Programs using "{name}" stop working at once. This cannot be undone.', 'tokens.revoked': 'Token "{name}" revoked.',
  'tokens.is_revoked': 'revoked',
  'audit.title': 'Audit log', 'audit.filters': 'Filter and export', 'audit.apply': 'Show events', 'audit.export': 'Export CSV',
  'audit.exporting': 'Preparing the CSV file…', 'audit.exported': 'Downloaded {name}.', 'audit.none': 'No events in this period.',
  'audit.more': 'Show more', 'audit.shown': 'Events shown: {n}.', 'audit.time': 'Time', 'audit.action': 'Action', 'audit.actor': 'Actor',
  'audit.target': 'Target', 'audit.result': 'Result', 'audit.ip': 'IP address',
  'sec.title': 'Account security',
  'totp.title': 'Two-step sign-in (TOTP)', 'totp.on': 'On', 'totp.off': 'Off',
  'totp.why': 'Sign-in then also needs a code from an authenticator app.', 'totp.enable': 'Turn on two-step sign-in',
  'totp.step1': 'Step 1: add this account to your authenticator app. Type the secret, or open the otpauth link on this device.',
  'totp.secret': 'Secret', 'totp.uri': 'otpauth URI', 'totp.open_app': 'Open in an authenticator app',
  'totp.step2': 'Step 2: enter the code the app shows to finish.', 'totp.confirm': 'Confirm and turn on',
  'totp.enabled': 'Two-step sign-in is on.', 'totp.codes.title': 'Save your recovery codes',
  'totp.codes.body': 'Each code signs you in once if you lose your device. They are shown only now: print them or keep them in a password manager.',
  'totp.codes.saved': 'I have saved these codes', 'totp.disable': 'Turn off two-step sign-in',
  'totp.disable.hint': 'Confirm with your password.', 'totp.disabled': 'Two-step sign-in is off.',
  'pw.title': 'Change password', 'pw.submit': 'Change password', 'pw.done': 'Password changed. Your other sessions were signed out.',
  'ip.title': 'IP allow-lists', 'ip.body': 'Each organization can limit where its members sign in from. Owners and admins change it in the organization settings.',
  'ip.none': 'every address allowed',
};

const ja = {
  'optional': '任意', 'cancel': 'キャンセル', 'save': '保存', 'saved': '保存しました。', 'copy': 'コピー', 'copied': 'コピーしました',
  'copy.failed': 'コピーできませんでした。文字列を選択して手動でコピーしてください',
  'lang.switch': '表示言語を英語に切り替える', 'skip': '本文へ移動',
  'nav.dashboard': 'ダッシュボード', 'nav.security': 'アカウントのセキュリティ', 'nav.signout': 'サインアウト', 'nav.signin': 'サインイン', 'nav.signup': 'アカウント作成',
  'signedout': 'サインアウトしました。', 'session.expired': 'セッションが終了しました。続けるには再度サインインしてください。',
  'notfound.title': 'ページが見つかりません', 'notfound.back': 'ダッシュボードへ',
  'err.title': 'エラーが発生しました', 'err.unexpected': 'ページを再読み込みして、もう一度お試しください。',
  'err.network': 'サーバーに接続できません。接続を確認して再試行してください。',
  'err.rate': 'リクエストが多すぎます。{s} 秒待ってから再試行してください。',
  'err.server': '1 分ほど待って再試行してください。解決しない場合はリクエスト ID {id} を添えてサポートへご連絡ください。',
  'err.signin': '再度サインインしてからやり直してください。', 'err.field': '{label}:{detail}', 'err.required': '入力してください(必須項目です)。',
  'err.required_export': 'エクスポートには日時の指定が必要です。日時を選んでください。',
  'err.time': '日時が正しくありません。日付選択から指定してください。',
  'f.email': 'メールアドレス', 'f.name': 'お名前', 'f.org_name': '組織名',
  'f.org_name.hint': '会社名やプロジェクト名。後から変更できます。',
  'f.password': 'パスワード', 'f.password.hint': '8 文字以上で、英小文字・英大文字・数字・記号のうち 2 種類以上を含めてください。',
  'f.current_password': '現在のパスワード', 'f.new_password': '新しいパスワード',
  'f.totp_code': '認証コード', 'f.totp_code.hint': '認証アプリに表示されている 6 桁のコード。',
  'f.recovery_code': 'リカバリーコード', 'f.recovery_code.hint': '2 段階認証を有効にしたときに保存したコード。各コードは 1 回だけ使えます。',
  'f.role': 'ロール', 'f.ip_allowlist': 'IP 許可リスト', 'f.ip_allowlist.hint': '1 行に 1 つのアドレスまたは CIDR(例: 203.0.113.0/24)。空欄ならすべて許可。現在のアドレスを含める必要があります。',
  'f.token_name': 'トークン名', 'f.token_name.hint': '用途がわかる名前(例:「CI からのデプロイ」)。',
  'f.scopes': 'スコープ(トークンに許可する操作)', 'f.expires_at': '有効期限', 'f.expires_at.hint': '空欄なら無期限です。',
  'f.from': '開始', 'f.to': '終了', 'f.action': '操作', 'f.action.hint': '前方一致(例: token. や session.)',
  'signup.title': 'アカウントを作成', 'signup.submit': 'アカウントを作成', 'signup.have': 'アカウントをお持ちですか?',
  'signup.sent.title': 'メールを確認してください', 'signup.sent.body': '{email} に確認用リンクを送りました。リンクを開いてアカウントを有効にし、サインインしてください。',
  'signup.sent.signin': 'サインインへ',
  'verify.title': 'メールアドレスの確認', 'verify.working': 'メールアドレスを確認しています…', 'verify.done': 'メールアドレスを確認しました。',
  'verify.ok': '{email} を確認しました。サインインできます。', 'verify.signin': 'サインイン',
  'verify.notoken': 'このリンクにはトークンがありません。メールのリンクをもう一度開くか、アドレス全体をコピーしてください。',
  'verify.failed': 'メールアドレスを確認できませんでした:', 'verify.failed.next': 'リンクの期限が切れている場合は、次からパスワードを設定してください:',
  'signin.title': 'サインイン', 'signin.submit': 'サインイン', 'signin.forgot': 'パスワードをお忘れですか?', 'signin.new': '初めての方は',
  'signin.totp.title': '2 段階認証', 'signin.totp.body': '認証アプリのコードを入力してサインインを完了してください。',
  'signin.verify': '確認してサインイン', 'signin.use_recovery': 'リカバリーコードを使う', 'signin.use_totp': '認証コードを使う',
  'signin.done': '{email} としてサインインしました。',
  'reset.title': 'パスワードの再設定', 'reset.ask': 'メールアドレスを入力すると、新しいパスワードを設定するリンクを送ります。',
  'reset.send': 'リンクを送信', 'reset.sent': '{email} のアカウントが存在する場合、リンク付きのメールを送信しました。',
  'reset.set': '新しいパスワードを設定', 'reset.done': 'パスワードを変更しました。新しいパスワードでサインインしてください。',
  'invite.title': '組織に参加', 'invite.body': 'サインイン中のアカウントで招待を承認します。',
  'invite.accept': '招待を承認', 'invite.done': '{org} に参加しました。',
  'invite.send': 'メンバーを招待', 'invite.sent': '{email} に招待を送信しました。',
  'dash.title': 'ダッシュボード', 'dash.signed_in_as': '{email} でサインイン中', 'dash.orgs': '所属している組織',
  'dash.none': 'まだ組織に所属していません。下で作成してください。',
  'dash.create': '組織を作成', 'dash.created': '組織 {name} を作成しました。',
  'dash.totp_hint': '2 段階認証でアカウントを保護しましょう。', 'dash.totp_link': '有効にする',
  'org.sections': '組織', 'org.overview': '概要', 'org.your_role': 'あなたのロール:', 'org.status': '状態:',
  'org.settings': '組織の設定',
  'members.title': 'メンバー', 'members.since': '参加日時',
  'role.owner': 'オーナー', 'role.admin': '管理者', 'role.billing': '請求担当', 'role.operator': 'オペレーター',
  'role.developer': '開発者', 'role.auditor': '監査担当', 'role.viewer': '閲覧者',
  'perm.org.read': '組織とメンバーの閲覧', 'perm.org.update': '組織名・IP 許可リストの変更',
  'perm.members.manage': 'メンバーの招待・削除', 'perm.tokens.read': 'API トークンの一覧', 'perm.tokens.manage': 'API トークンの作成・失効',
  'perm.audit.read': '監査ログの閲覧・エクスポート', 'perm.billing.read': '請求書・支払いの閲覧', 'perm.billing.manage': '支払い・プラン変更',
  'perm.services.read': 'サイト・サーバー・DNS・証明書の閲覧', 'perm.services.manage': 'サービスの作成・変更・削除',
  'tokens.title': 'API トークン', 'tokens.list': 'トークン一覧', 'tokens.none': 'API トークンはまだありません。', 'tokens.create': 'トークンを作成',
  'tokens.created': '作成日時', 'tokens.last_used': '最終使用', 'tokens.never': 'なし',
  'tokens.created_title': 'トークン「{name}」を作成しました', 'tokens.once': '今すぐコピーしてください。表示はこの一度だけです。紛失した場合は失効させて新しく作成してください。',
  'tokens.revoke': '失効', 'tokens.revoke.named': 'トークン {name} を失効', 'tokens.revoke.title': 'このトークンを失効させますか?',
  'tokens.revoke.body': '「{name}」を使っているプログラムはすぐに動かなくなります。元に戻せません。', 'tokens.revoked': 'トークン「{name}」を失効させました。',
  'tokens.is_revoked': '失効済み',
  'audit.title': '監査ログ', 'audit.filters': '絞り込みとエクスポート', 'audit.apply': 'イベントを表示', 'audit.export': 'CSV をエクスポート',
  'audit.exporting': 'CSV ファイルを準備しています…', 'audit.exported': '{name} をダウンロードしました。', 'audit.none': 'この期間のイベントはありません。',
  'audit.more': 'さらに表示', 'audit.shown': '表示中のイベント: {n} 件。', 'audit.time': '日時', 'audit.action': '操作', 'audit.actor': '実行者',
  'audit.target': '対象', 'audit.result': '結果', 'audit.ip': 'IP アドレス',
  'sec.title': 'アカウントのセキュリティ',
  'totp.title': '2 段階認証(TOTP)', 'totp.on': '有効', 'totp.off': '無効',
  'totp.why': '有効にすると、サインイン時に認証アプリのコードも必要になります。', 'totp.enable': '2 段階認証を有効にする',
  'totp.step1': 'ステップ 1: 認証アプリにこのアカウントを追加します。シークレットを入力するか、この端末で otpauth リンクを開いてください。',
  'totp.secret': 'シークレット', 'totp.uri': 'otpauth URI', 'totp.open_app': '認証アプリで開く',
  'totp.step2': 'ステップ 2: アプリに表示されたコードを入力して完了します。', 'totp.confirm': '確認して有効にする',
  'totp.enabled': '2 段階認証を有効にしました。', 'totp.codes.title': 'リカバリーコードを保存してください',
  'totp.codes.body': '端末を紛失したとき、各コードで 1 回サインインできます。表示は今回だけです。印刷するかパスワードマネージャーに保存してください。',
  'totp.codes.saved': 'コードを保存しました', 'totp.disable': '2 段階認証を無効にする',
  'totp.disable.hint': 'パスワードで確認します。', 'totp.disabled': '2 段階認証を無効にしました。',
  'pw.title': 'パスワードの変更', 'pw.submit': 'パスワードを変更', 'pw.done': 'パスワードを変更しました。他のセッションはサインアウトされました。',
  'ip.title': 'IP 許可リスト', 'ip.body': '組織ごとにサインインできる接続元を制限できます。オーナーと管理者が組織の設定で変更します。',
  'ip.none': 'すべてのアドレスを許可',
};

Object.assign(en, servicesEn);
Object.assign(ja, servicesJa);
Object.assign(en, partnersEn);
Object.assign(ja, partnersJa);
Object.assign(en, certsEn);
Object.assign(ja, certsJa);
Object.assign(en, billingEn);
Object.assign(ja, billingJa);
const messages = { en, ja };
const KEY = 'hp.lang';

let current = (() => {
  const saved = localStorage.getItem(KEY);
  if (saved === 'en' || saved === 'ja') return saved;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const p of prefs) {
    if (/^ja\b/i.test(p)) return 'ja';
    if (/^en\b/i.test(p)) return 'en';
  }
  return 'en';
})();

export function lang() { return current; }

export function setLang(l) {
  current = l === 'ja' ? 'ja' : 'en';
  localStorage.setItem(KEY, current);
}

export function t(key, vars = {}) {
  const s = messages[current][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

// Text in index.html itself.
export function applyStaticText() {
  document.documentElement.lang = current;
  document.getElementById('skip').textContent = t('skip');
}

export const _messagesForTests = messages;
