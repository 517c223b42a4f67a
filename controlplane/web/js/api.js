// The panel's only way to the server: /api/v1 with the session cookie (HttpOnly, set by the
// sign-in response) and the CSRF token from that response on every write.

const CSRF_KEY = 'hp.csrf';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.field = problem.field || '';
    this.retryAfter = 0;
  }
}

export const session = {
  get csrf() { return sessionStorage.getItem(CSRF_KEY) || ''; },
  set(csrf) { sessionStorage.setItem(CSRF_KEY, csrf); },
  clear() { sessionStorage.removeItem(CSRF_KEY); },
  get active() { return !!sessionStorage.getItem(CSRF_KEY); },
};

let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

async function problemOf(res) {
  const type = res.headers.get('content-type') || '';
  if (type.includes('json')) {
    try { return await res.json(); } catch { /* fall through */ }
  }
  return { status: res.status, title: res.statusText, detail: '' };
}

// Sends a request; resolves with the parsed JSON (or null for 204), rejects with ApiError.
// `raw: true` resolves with the Response itself (for downloads).
export async function api(method, path, body, { raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { title: 'network', detail: '' });
  }
  if (!res.ok) {
    const err = new ApiError(res.status, await problemOf(res));
    err.retryAfter = Number(res.headers.get('retry-after') || 0);
    err.requestId = res.headers.get('x-request-id') || '';
    err.path = path;
    // A session that expired or was revoked: sign in again (not for the sign-in call itself).
    if (res.status === 401 && path !== '/api/v1/sessions') {
      session.clear();
      onUnauthenticated(err);
    }
    throw err;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  return type.includes('json') ? res.json() : res.text();
}

// RFC 3339 without milliseconds, as the API prints and parses times.
export function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
