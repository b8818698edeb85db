// The JSON API client of the page. The API lives at ../v1/ relative to the
// page (/ui/ → /v1/), so the dashboard also works behind a path prefix.

const TOKEN_KEY = 'ticketq.token';

// A bearer token holds only these characters (RFC 6750, as the server
// checks them); anything else could not even be put in a header.
const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;

export const apiBase = new URL('../v1/', document.baseURI);

// ApiError is a refused or failed call: status 0 means the server could
// not be reached at all.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // describe is the line the page shows: "401 unauthorized: …". The
  // server's messages often start with the code in words ("unauthorized:
  // …", "not found: …"), which is not repeated.
  describe() {
    if (!this.status) return this.message;
    const words = `${this.code.replace(/_/g, ' ')}: `;
    const msg = this.message.toLowerCase().startsWith(words) ? this.message.slice(words.length) : this.message;
    return `${this.status} ${this.code}: ${msg}`;
  }
}

// The token lives in sessionStorage: it ends with the tab, and unlike a
// cookie it is sent only where the page's code sends it.
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

// setToken stores a token, or removes it when empty; it returns an error
// message for a token that cannot be valid, and then stores nothing.
export function setToken(token) {
  if (token === '') {
    sessionStorage.removeItem(TOKEN_KEY);
    return '';
  }
  if (!TOKEN_SYNTAX.test(token)) {
    return 'A token holds only the characters A–Z a–z 0–9 - . _ ~ + / and may end in =; check what was pasted.';
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  return '';
}

// api calls the API and returns the decoded answer, or throws an ApiError.
export async function api(method, path, { timeoutMs = 15000 } = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(new URL(path, apiBase), {
      method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `cannot reach the server (${e.name === 'TimeoutError' ? 'no answer within ' + timeoutMs / 1000 + ' s' : e.message})`);
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const e = body && body.error;
    throw new ApiError(resp.status, (e && e.code) || `http_${resp.status}`,
      (e && e.message) || text.trim().slice(0, 200) || resp.statusText);
  }
  if (body === null) throw new ApiError(resp.status, 'bad_answer', `${method} ${path}: the answer is not JSON`);
  return body;
}
