#!/usr/bin/env node
// tests/e2e/auth.unit.mjs - the SPA's auth and API plumbing in Node with a fake at the fetch
// boundary: the paths the local stack cannot show (real Cognito's error shapes, MFA challenge
// with a Session, GlobalSignOut, token refresh races, network failures). The same modules run
// in the browser; the e2e test (spa.e2e.mjs) drives them against cognito-local for real.
// Run: node tests/e2e/auth.unit.mjs (node:test; exit status non-zero on failure).

import test from 'node:test';
import assert from 'node:assert/strict';
import { CognitoClient, CognitoError } from '../../frontend/src/cognito.js';
import { Session, decodeJwt } from '../../frontend/src/session.js';
import { Api, ApiError } from '../../frontend/src/api.js';
import { cognitoMessage, apiMessage } from '../../frontend/src/errors.js';
import { checkPassword, passwordProblem } from '../../frontend/src/password.js';

const CFG = { cognitoEndpoint: 'https://cognito-idp.eu-west-1.amazonaws.com/', clientId: 'client123' };

function jwt(claims) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'RS256', kid: 'k' })}.${enc(claims)}.sig`;
}
const nowS = () => Math.floor(Date.now() / 1000);

/** A fake fetch: routes(target or url, request) -> {status, body} | throws; records every call. */
function fakeFetch(routes) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const target = init.headers && init.headers['X-Amz-Target'];
    const call = { url, init, target: target && target.replace(/^AWSCognitoIdentityProviderService\./, ''), body: init.body ? JSON.parse(init.body) : undefined };
    calls.push(call);
    const r = await routes(call);
    const text = r.body === undefined ? '' : JSON.stringify(r.body);
    return new Response(r.status === 204 ? null : text, { status: r.status || 200, headers: r.headers || {} });
  };
  fn.calls = calls;
  return fn;
}

function memStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k), map: m };
}

const noTimers = { setTimer: () => 0, clearTimer: () => {} };

test('Cognito calls carry the target header, JSON 1.1 content type and the client id', async () => {
  const f = fakeFetch(() => ({ body: { UserConfirmed: false, CodeDeliveryDetails: { Destination: 'a***@e***' } } }));
  const c = new CognitoClient(CFG, f);
  const r = await c.signUp('ada@example.com', 'Abcdefghij1');
  assert.equal(r.CodeDeliveryDetails.Destination, 'a***@e***');
  const [call] = f.calls;
  assert.equal(call.url, CFG.cognitoEndpoint);
  assert.equal(call.init.method, 'POST');
  assert.equal(call.init.headers['Content-Type'], 'application/x-amz-json-1.1');
  assert.equal(call.target, 'SignUp');
  assert.deepEqual(call.body, { ClientId: 'client123', Username: 'ada@example.com', Password: 'Abcdefghij1', UserAttributes: [{ Name: 'email', Value: 'ada@example.com' }] });
});

test('real Cognito error shapes become CognitoError codes', async () => {
  const shapes = [
    [{ status: 400, body: { __type: 'com.amazonaws.cognito.identity.idp.model#CodeMismatchException', message: 'Invalid code' } }, 'CodeMismatchException'],
    [{ status: 400, body: { __type: 'NotAuthorizedException', message: 'Incorrect username or password.' } }, 'NotAuthorizedException'],
    [{ status: 400, body: { message: 'x' }, headers: { 'x-amzn-errortype': 'LimitExceededException:http://internal' } }, 'LimitExceededException'],
  ];
  for (const [res, code] of shapes) {
    const c = new CognitoClient(CFG, fakeFetch(() => res));
    await assert.rejects(c.confirmSignUp('a@b.c', '1'), (e) => e instanceof CognitoError && e.code === code && e.status === 400);
  }
  const down = new CognitoClient(CFG, fakeFetch(() => { throw new TypeError('Failed to fetch'); }));
  await assert.rejects(down.forgotPassword('a@b.c'), (e) => e.code === 'NetworkError');
});

test('errors are plain language and point at the right field', () => {
  assert.deepEqual(cognitoMessage({ code: 'UsernameExistsException' }, 'signup').field, 'email');
  assert.match(cognitoMessage({ code: 'UsernameExistsException' }, 'signup').message, /already exists/);
  assert.deepEqual(cognitoMessage({ code: 'NotAuthorizedException', message: 'Incorrect username or password.' }, 'login'), { field: 'password', message: 'Incorrect email or password.' });
  assert.equal(cognitoMessage({ code: 'InvalidPasswordException', message: 'Invalid password' }, 'login').message, 'Incorrect email or password.');
  assert.match(cognitoMessage({ code: 'InvalidPasswordException', message: 'Password did not conform with policy: Password must have uppercase characters' }, 'signup').message, /must have uppercase/);
  assert.equal(cognitoMessage({ code: 'CodeMismatchException' }, 'confirm').field, 'code');
  assert.equal(cognitoMessage({ code: 'ExpiredCodeException' }, 'reset').field, 'code');
  assert.equal(cognitoMessage({ code: 'LimitExceededException' }, 'forgot').field, null);
  assert.match(cognitoMessage({ code: 'LimitExceededException' }, 'forgot').message, /Too many attempts/);
  assert.equal(cognitoMessage({ code: 'UserNotConfirmedException' }, 'login').field, 'email');
  assert.match(cognitoMessage({ code: 'SomethingNew' }).message, /Something went wrong/);
  assert.match(apiMessage(new ApiError(409, { error: 'conflict', message: 'stale' })), /changed this/);
  assert.match(apiMessage(new ApiError(0, { error: 'network' })), /could not be reached/);
  assert.match(apiMessage(new ApiError(500, { error: 'internal', requestId: 'r-1' })), /r-1/);
});

test('password policy: 10+ chars, upper, lower, number; symbols not required', () => {
  assert.equal(checkPassword('Abcdefghi1').ok, true);
  assert.equal(checkPassword('Abcdefgh1').ok, false);
  assert.equal(checkPassword('abcdefghij1').ok, false);
  assert.equal(checkPassword('ABCDEFGHIJ1').ok, false);
  assert.equal(checkPassword('Abcdefghijk').ok, false);
  assert.equal(passwordProblem('Abcdefghi1'), '');
  assert.equal(passwordProblem('weakpassword'), 'Your password needs an uppercase letter (A-Z), a number (0-9).');
});

test('MFA log in: SOFTWARE_TOKEN_MFA challenge is answered with the Session and USER_ID_FOR_SRP', async () => {
  const id = jwt({ exp: nowS() + 3600, email: 'ada@example.com' });
  const f = fakeFetch(({ target, body }) => {
    if (target === 'InitiateAuth') return { body: { ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 'sess-1', ChallengeParameters: { USER_ID_FOR_SRP: 'uuid-ada' } } };
    if (target === 'RespondToAuthChallenge') {
      if (body.ChallengeResponses.SOFTWARE_TOKEN_MFA_CODE !== '123456') return { status: 400, body: { __type: 'CodeMismatchException', message: 'Invalid code received for user' } };
      return { body: { AuthenticationResult: { IdToken: id, AccessToken: 'acc', RefreshToken: 'ref', ExpiresIn: 3600 } } };
    }
    return { status: 400, body: { __type: 'InvalidParameterException' } };
  });
  const c = new CognitoClient(CFG, f);
  const ch = await c.initiatePasswordAuth('ada@example.com', 'Abcdefghij1');
  assert.equal(ch.ChallengeName, 'SOFTWARE_TOKEN_MFA');
  await assert.rejects(c.respondSoftwareTokenMfa(ch.Session, ch.ChallengeParameters.USER_ID_FOR_SRP, '000000'),
    (e) => e.code === 'CodeMismatchException' && cognitoMessage(e, 'mfa').field === 'code');
  const r = await c.respondSoftwareTokenMfa(ch.Session, ch.ChallengeParameters.USER_ID_FOR_SRP, '123456');
  const call = f.calls.at(-1);
  assert.deepEqual(call.body, { ClientId: 'client123', ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 'sess-1', ChallengeResponses: { USERNAME: 'uuid-ada', SOFTWARE_TOKEN_MFA_CODE: '123456' } });
  const s = new Session(c, { storage: memStorage(), ...noTimers });
  s.set(r.AuthenticationResult);
  assert.equal(s.email, 'ada@example.com');
});

test('MFA set up: Associate -> Verify -> SetUserMFAPreference with the access token', async () => {
  const f = fakeFetch(({ target }) => {
    if (target === 'AssociateSoftwareToken') return { body: { SecretCode: 'JBSWY3DPEHPK3PXP' } };
    if (target === 'VerifySoftwareToken') return { body: { Status: 'SUCCESS' } };
    if (target === 'SetUserMFAPreference') return { body: {} };
    return { status: 400, body: {} };
  });
  const c = new CognitoClient(CFG, f);
  assert.equal((await c.associateSoftwareToken('acc')).SecretCode, 'JBSWY3DPEHPK3PXP');
  assert.equal((await c.verifySoftwareToken('acc', '123456', 'Phone')).Status, 'SUCCESS');
  await c.setSoftwareTokenMfa('acc', true);
  assert.deepEqual(f.calls.map((x) => x.target), ['AssociateSoftwareToken', 'VerifySoftwareToken', 'SetUserMFAPreference']);
  assert.deepEqual(f.calls[1].body, { AccessToken: 'acc', UserCode: '123456', FriendlyDeviceName: 'Phone' });
  assert.deepEqual(f.calls[2].body, { AccessToken: 'acc', SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true } });
  const bad = new CognitoClient(CFG, fakeFetch(() => ({ status: 400, body: { __type: 'EnableSoftwareTokenMFAException', message: 'Code mismatch' } })));
  await assert.rejects(bad.verifySoftwareToken('acc', '000000'), (e) => cognitoMessage(e, 'mfa').field === 'code');
});

test('session: stored in sessionStorage, restored, refreshed before expiry (one request for concurrent callers)', async () => {
  let n = 0;
  const f = fakeFetch(async ({ target, body }) => {
    assert.equal(target, 'InitiateAuth');
    assert.equal(body.AuthFlow, 'REFRESH_TOKEN_AUTH');
    assert.equal(body.AuthParameters.REFRESH_TOKEN, 'ref');
    n++;
    await new Promise((r) => setTimeout(r, 10));
    return { body: { AuthenticationResult: { IdToken: jwt({ exp: nowS() + 3600, n }), AccessToken: 'acc2' } } };
  });
  const storage = memStorage();
  const s = new Session(new CognitoClient(CFG, f), { storage, ...noTimers });
  s.set({ IdToken: jwt({ exp: nowS() + 30 }), AccessToken: 'acc', RefreshToken: 'ref' });
  assert.ok(storage.getItem('moonbase.session'));
  const s2 = new Session(new CognitoClient(CFG, f), { storage, ...noTimers });
  assert.equal(s2.restore(), true);
  const [a, b] = await Promise.all([s2.idToken(), s2.idToken()]);
  assert.equal(a, b);
  assert.equal(n, 1, 'one refresh for two callers');
  assert.equal(decodeJwt(a).n, 1);
  assert.equal(s2.tokens.refreshToken, 'ref', 'refresh token kept when Cognito returns none');
  assert.equal(s2.tokens.accessToken, 'acc2');
  const again = await s2.idToken();
  assert.equal(again, a, 'a fresh token is not refreshed again');
  assert.equal(n, 1);
});

test('session: a refresh schedule is set before expiry', () => {
  const timers = [];
  const s = new Session(new CognitoClient(CFG, fakeFetch(() => ({ body: {} }))), { storage: memStorage(), setTimer: (fn, ms) => { timers.push(ms); return 1; }, clearTimer: () => {} });
  s.set({ IdToken: jwt({ exp: nowS() + 3600 }), AccessToken: 'a', RefreshToken: 'r' });
  assert.equal(timers.length, 1);
  assert.ok(timers[0] > 3400 * 1000 && timers[0] <= 3480 * 1000, `timer ${timers[0]} ms`);
});

test('session: a revoked refresh token clears the session and reports expiry', async () => {
  const storage = memStorage();
  const s = new Session(new CognitoClient(CFG, fakeFetch(() => ({ status: 400, body: { __type: 'NotAuthorizedException', message: 'Refresh Token has been revoked' } }))), { storage, ...noTimers });
  let expired = null;
  s.onExpired = (e) => { expired = e; };
  s.set({ IdToken: jwt({ exp: nowS() - 10 }), AccessToken: 'a', RefreshToken: 'r' });
  await assert.rejects(s.idToken(), (e) => e.code === 'NotAuthorizedException');
  assert.equal(s.signedIn, false);
  assert.equal(storage.getItem('moonbase.session'), null);
  assert.equal(expired.code, 'NotAuthorizedException');
});

test('session: a network failure during refresh keeps the session', async () => {
  const s = new Session(new CognitoClient(CFG, fakeFetch(() => { throw new TypeError('offline'); })), { storage: memStorage(), ...noTimers });
  s.set({ IdToken: jwt({ exp: nowS() - 10 }), AccessToken: 'a', RefreshToken: 'r' });
  await assert.rejects(s.idToken(), (e) => e.code === 'NetworkError');
  assert.equal(s.signedIn, true);
});

test('sign out: GlobalSignOut; when it fails (cognito-local), RevokeToken; the session is cleared either way', async () => {
  for (const [global, revoke, revoked] of [[200, 200, true], [500, 200, true], [500, 400, false]]) {
    const f = fakeFetch(({ target }) => {
      if (target === 'GlobalSignOut') return global === 200 ? { body: {} } : { status: global, body: { __type: 'CognitoLocal#Unsupported' } };
      if (target === 'RevokeToken') return revoke === 200 ? { body: {} } : { status: revoke, body: { __type: 'UnsupportedTokenTypeException' } };
      return { status: 400, body: {} };
    });
    const storage = memStorage();
    const s = new Session(new CognitoClient(CFG, f), { storage, ...noTimers });
    s.set({ IdToken: jwt({ exp: nowS() + 3600 }), AccessToken: 'acc', RefreshToken: 'ref' });
    const r = await s.signOut();
    assert.equal(r.revoked, revoked);
    assert.equal(s.signedIn, false);
    assert.equal(storage.getItem('moonbase.session'), null);
    assert.deepEqual(f.calls[0].body, { AccessToken: 'acc' });
    if (global !== 200) assert.deepEqual(f.calls[1].body, { ClientId: 'client123', Token: 'ref' });
  }
});

test('sign out with globalSignOut: false (the local stack): only RevokeToken, never GlobalSignOut', async () => {
  const f = fakeFetch(({ target }) => (target === 'RevokeToken' ? { body: {} } : { status: 500, body: {} }));
  const s = new Session(new CognitoClient(CFG, f), { storage: memStorage(), globalSignOut: false, ...noTimers });
  s.set({ IdToken: jwt({ exp: nowS() + 3600 }), AccessToken: 'acc', RefreshToken: 'ref' });
  assert.equal((await s.signOut()).revoked, true);
  assert.equal(f.calls.length, 1);
  assert.deepEqual(f.calls[0].body, { ClientId: 'client123', Token: 'ref' });
});

test('API: Bearer ID token; a 401 refreshes once and retries; errors keep code, field and request id', async () => {
  let fresh = null;
  const cog = fakeFetch(() => { fresh = jwt({ exp: nowS() + 3600, v: 2 }); return { body: { AuthenticationResult: { IdToken: fresh, AccessToken: 'a2' } } }; });
  const s = new Session(new CognitoClient(CFG, cog), { storage: memStorage(), ...noTimers });
  const first = jwt({ exp: nowS() + 3600, v: 1 });
  s.set({ IdToken: first, AccessToken: 'a', RefreshToken: 'r' });
  const seen = [];
  const api = new Api('https://api.example.com/', s, fakeFetch(({ url, init }) => {
    seen.push([url, init.headers.Authorization]);
    if (init.headers.Authorization === `Bearer ${first}`) return { status: 401, body: { error: 'unauthorized', message: 'expired' } };
    if (url.endsWith('/profile') && init.method === 'PUT') return { status: 400, body: { error: 'validation', field: 'displayName', message: 'displayName must be 1..60 characters', requestId: 'req-9' } };
    if (init.method === 'DELETE') return { status: 204 };
    return { body: { ok: true } };
  }));
  assert.deepEqual(await api.get('/me'), { ok: true });
  assert.deepEqual(seen.map((x) => x[0]), ['https://api.example.com/me', 'https://api.example.com/me']);
  assert.equal(seen[1][1], `Bearer ${fresh}`);
  await assert.rejects(api.put('/profile', { displayName: '' }), (e) => e instanceof ApiError && e.status === 400 && e.code === 'validation' && e.field === 'displayName' && e.requestId === 'req-9');
  assert.equal(await api.del('/items/x?version=1'), null);
});

test('API: a 401 that refresh cannot fix is reported as unauthorized; network failure as network', async () => {
  const s = new Session(new CognitoClient(CFG, fakeFetch(() => ({ status: 400, body: { __type: 'NotAuthorizedException' } }))), { storage: memStorage(), ...noTimers });
  s.set({ IdToken: jwt({ exp: nowS() + 3600 }), AccessToken: 'a', RefreshToken: 'r' });
  const api = new Api('https://api.example.com', s, fakeFetch(() => ({ status: 401, body: { error: 'unauthorized' } })));
  await assert.rejects(api.get('/items'), (e) => e.status === 401 && e.code === 'unauthorized');
  const s2 = new Session(new CognitoClient(CFG, fakeFetch(() => ({ body: {} }))), { storage: memStorage(), ...noTimers });
  s2.set({ IdToken: jwt({ exp: nowS() + 3600 }), AccessToken: 'a', RefreshToken: 'r' });
  const down = new Api('http://127.0.0.1:9/api', s2, fakeFetch(() => { throw new TypeError('Failed to fetch'); }));
  await assert.rejects(down.get('/items'), (e) => e.status === 0 && e.code === 'network');
});
