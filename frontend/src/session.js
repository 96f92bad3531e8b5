// session.js - the signed-in session: tokens in memory, mirrored to sessionStorage (so a reload
// keeps the session but closing the tab ends it; never localStorage), silent refresh with
// REFRESH_TOKEN_AUTH shortly before the ID token expires and on demand after a 401.
// No DOM access: storage and timers are injected so Node tests can drive it.

import { CognitoError } from './cognito.js';

const KEY = 'moonbase.session';
const REFRESH_MARGIN_S = 120; // refresh this long before expiry

/** Decodes a JWT payload without verifying it (the API verifies; we only read exp/email). */
export function decodeJwt(token) {
  try {
    const part = String(token).split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

export class Session {
  /**
   * @param {import('./cognito.js').CognitoClient} cognito
   * @param {{storage?: Storage, now?: () => number, setTimer?: Function, clearTimer?: Function}} [deps]
   */
  constructor(cognito, deps = {}) {
    this.cognito = cognito;
    this.storage = deps.storage === undefined ? globalThis.sessionStorage : deps.storage;
    this.now = deps.now || (() => Date.now());
    this.setTimer = deps.setTimer || ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = deps.clearTimer || ((t) => clearTimeout(t));
    this.tokens = null; // {idToken, accessToken, refreshToken}
    this.timer = null;
    this.inflight = null;
    this.onExpired = () => {};
    this.refreshCount = 0;
    // GlobalSignOut is skipped where the user pool lacks it (cognito-local answers it with a
    // 500, which the browser reports as a console error): main.js turns it off on the local stack.
    this.useGlobalSignOut = deps.globalSignOut !== false;
  }

  /** Restores tokens from sessionStorage (after a reload); true when there is a session. */
  restore() {
    if (!this.storage) return false;
    try {
      const t = JSON.parse(this.storage.getItem(KEY) || 'null');
      if (t && typeof t.idToken === 'string' && typeof t.refreshToken === 'string') {
        this.tokens = t;
        this.schedule();
        return true;
      }
    } catch { /* a corrupt entry is no session */ }
    this.storage.removeItem(KEY);
    return false;
  }

  get signedIn() { return !!this.tokens; }
  get claims() { return this.tokens ? decodeJwt(this.tokens.idToken) || {} : {}; }
  get email() { return this.claims.email || ''; }

  /** Seconds until the ID token expires (negative when expired, -Infinity when unreadable). */
  secondsLeft() {
    const exp = this.claims.exp;
    return typeof exp === 'number' ? exp - this.now() / 1000 : -Infinity;
  }

  /** Stores the AuthenticationResult of InitiateAuth / RespondToAuthChallenge. */
  set(result) {
    const t = {
      idToken: result.IdToken,
      accessToken: result.AccessToken,
      refreshToken: result.RefreshToken || (this.tokens && this.tokens.refreshToken),
    };
    if (!t.idToken || !t.refreshToken) throw new CognitoError('InvalidResponse', 'Sign-in returned no tokens.');
    this.tokens = t;
    if (this.storage) this.storage.setItem(KEY, JSON.stringify(t));
    this.schedule();
  }

  clear() {
    this.tokens = null;
    if (this.timer) this.clearTimer(this.timer);
    this.timer = null;
    if (this.storage) this.storage.removeItem(KEY);
  }

  schedule() {
    if (this.timer) this.clearTimer(this.timer);
    const left = this.secondsLeft();
    if (!Number.isFinite(left)) return;
    const ms = Math.max(5, left - REFRESH_MARGIN_S) * 1000;
    this.timer = this.setTimer(() => { this.refresh().catch(() => {}); }, Math.min(ms, 2 ** 31 - 1));
  }

  /** Refreshes the tokens once (concurrent callers share one request). Rejects when the refresh
   *  token is no longer accepted; then the session is cleared and onExpired() runs. */
  refresh() {
    if (!this.tokens) return Promise.reject(new CognitoError('NotAuthorizedException', 'Not signed in.'));
    if (this.inflight) return this.inflight;
    const refreshToken = this.tokens.refreshToken;
    this.inflight = this.cognito.refresh(refreshToken).then((r) => {
      this.refreshCount += 1;
      this.set({ ...r.AuthenticationResult, RefreshToken: r.AuthenticationResult.RefreshToken || refreshToken });
      return this.tokens;
    }, (err) => {
      if (err.code !== 'NetworkError') { this.clear(); this.onExpired(err); }
      throw err;
    }).finally(() => { this.inflight = null; });
    return this.inflight;
  }

  /** The ID token to send to the API, refreshed first when it expires within a minute. */
  async idToken() {
    if (!this.tokens) throw new CognitoError('NotAuthorizedException', 'Not signed in.');
    if (this.secondsLeft() < 60) await this.refresh();
    return this.tokens.idToken;
  }

  /** The access token for Cognito user operations (MFA, sign-out), fresh like idToken(). */
  async accessToken() {
    await this.idToken();
    return this.tokens.accessToken;
  }

  /** Signs out everywhere (GlobalSignOut; RevokeToken as a fallback, and the only call where
   *  deps.globalSignOut is false, as on cognito-local, which lacks GlobalSignOut). Failures are
   *  tolerated: the local session is always cleared. */
  async signOut() {
    const t = this.tokens;
    this.clear();
    if (!t) return { revoked: false };
    try {
      if (!this.useGlobalSignOut) throw new Error('GlobalSignOut not used here');
      await this.cognito.globalSignOut(t.accessToken);
      return { revoked: true };
    } catch {
      try {
        await this.cognito.revokeToken(t.refreshToken);
        return { revoked: true };
      } catch {
        return { revoked: false };
      }
    }
  }
}
