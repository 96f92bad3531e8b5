// api.js - the Moonbase API client: JSON in/out, Bearer ID token, one silent token refresh and
// retry on a 401, and every failure as an ApiError {status, code, message, field, requestId}.

export class ApiError extends Error {
  constructor(status, body = {}) {
    super(body.message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.error || (status === 0 ? 'network' : `http_${status}`);
    this.field = body.field || null;
    this.requestId = body.requestId || null;
    this.body = body; // the whole error body: e.g. {error: "syntax", line} of a handler deploy
  }
}

export class Api {
  /**
   * @param {string} baseUrl e.g. "http://localhost:3000/api" (no trailing slash needed)
   * @param {import('./session.js').Session} session
   * @param {typeof fetch} [fetchImpl]
   */
  constructor(baseUrl, session, fetchImpl) {
    this.base = String(baseUrl || '').replace(/\/+$/, '');
    this.session = session;
    this.fetch = fetchImpl || ((...a) => globalThis.fetch(...a));
  }

  async send(method, path, body, token) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await this.fetch(this.base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { error: 'network', message: 'The server could not be reached.' });
    }
  }

  /** Resolves to the decoded JSON body (null for 204); rejects with ApiError. */
  async request(method, path, body, { auth = true } = {}) {
    let token = auth ? await this.tokenOrThrow() : null;
    let res = await this.send(method, path, body, token);
    if (res.status === 401 && auth) {
      // The token may have been revoked or expired early: refresh once and retry.
      try { await this.session.refresh(); } catch { throw new ApiError(401, { error: 'unauthorized' }); }
      token = this.session.tokens.idToken;
      res = await this.send(method, path, body, token);
    }
    const text = res.status === 204 ? '' : await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) throw new ApiError(res.status, data && typeof data === 'object' ? data : {});
    return data;
  }

  async tokenOrThrow() {
    try {
      return await this.session.idToken();
    } catch (e) {
      if (e.code === 'NetworkError') throw new ApiError(0, { error: 'network', message: e.message });
      throw new ApiError(401, { error: 'unauthorized', message: 'Your session has expired.' });
    }
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body); }
  put(path, body) { return this.request('PUT', path, body); }
  del(path) { return this.request('DELETE', path); }
}
