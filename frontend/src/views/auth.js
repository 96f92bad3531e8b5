// views/auth.js - the signed-out views: log in (with the TOTP MFA step), sign up, confirm,
// forgot password and reset password. Each returns a DOM element; `app` is the shared context
// built in main.js ({config, cognito, session, navigate, flash, takeFlash}).

import { h, field, setFieldError, setFormError, clearErrors, focusFirstError, busy, announce } from '../dom.js';
import { cognitoMessage } from '../errors.js';
import { checkPassword, passwordProblem } from '../password.js';

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function shell(title, subtitle, ...body) {
  return h('section', { class: 'auth-card', 'aria-labelledby': 'view-title' },
    h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Moonbase'),
    h('h1', { id: 'view-title', tabindex: '-1' }, title),
    subtitle ? h('p', { class: 'subtitle' }, subtitle) : null,
    ...body);
}

function form(name, ...children) {
  return h('form', { class: 'form', name, novalidate: true },
    h('div', { class: 'form-error', role: 'alert', hidden: true }), ...children);
}

function flashBox(app) {
  const msg = app.takeFlash();
  return msg ? h('div', { class: 'notice', role: 'status' }, msg) : null;
}

function showError(f, err, context) {
  const { field: name, message } = cognitoMessage(err, context);
  if (!name || !setFieldError(f, name, message)) setFormError(f, message);
  focusFirstError(f);
}

function checkEmail(f, email) {
  if (!email) return setFieldError(f, 'email', 'Enter your email address.') && false;
  if (!EMAIL_RE.test(email)) return setFieldError(f, 'email', 'Enter an email address like name@example.com.') && false;
  return true;
}

/** The password field with the policy checklist updated as the user types. */
function passwordWithRules(label, name = 'password') {
  const rules = h('ul', { class: 'rules', 'aria-label': 'Password requirements' },
    checkPassword('').results.map((r) => h('li', { dataset: { rule: r.id } }, r.text)));
  const status = h('p', { class: 'sr-only', 'aria-live': 'polite' });
  const wrap = field({ label, name, type: 'password', attrs: { autocomplete: 'new-password', required: true } });
  const input = wrap.querySelector('input');
  input.setAttribute('aria-describedby', `${input.getAttribute('aria-describedby')} rules-${name}`);
  rules.id = `rules-${name}`;
  let timer = null;
  input.addEventListener('input', () => {
    const res = checkPassword(input.value);
    for (const r of res.results) {
      const li = rules.querySelector(`[data-rule="${r.id}"]`);
      li.classList.toggle('met', r.met);
      li.setAttribute('aria-label', `${r.text}: ${r.met ? 'done' : 'missing'}`);
    }
    clearTimeout(timer);
    timer = setTimeout(() => { status.textContent = res.ok ? 'Password meets all requirements.' : passwordProblem(input.value); }, 600);
  });
  wrap.append(rules, status, showToggle(input));
  return wrap;
}

function showToggle(input) {
  const b = h('button', { type: 'button', class: 'link small', 'aria-pressed': 'false' }, 'Show password');
  b.addEventListener('click', () => {
    const show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    b.textContent = show ? 'Hide password' : 'Show password';
    b.setAttribute('aria-pressed', String(show));
  });
  return b;
}

export function loginView(app, query) {
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const pw = field({ label: 'Password', name: 'password', type: 'password', attrs: { autocomplete: 'current-password', required: true } });
  pw.append(showToggle(pw.querySelector('input')));
  const f = form('login',
    field({ label: 'Email', name: 'email', type: 'email', value: query.email || '', attrs: { autocomplete: 'username', required: true } }),
    pw, submit);
  const root = shell('Log in', 'Welcome back. Log in to your dashboard.', flashBox(app), f,
    h('p', { class: 'links' }, h('a', { href: '#/forgot' }, 'Forgot your password?')),
    h('p', { class: 'links' }, 'New here? ', h('a', { href: '#/signup' }, 'Create an account')),
    app.config.environment === 'local'
      ? h('p', { class: 'dev-hint' }, 'Local stack: the demo account is ', h('code', {}, 'demo@moonbase.local'), ' / ', h('code', {}, 'MoonbaseDemo1'), '.')
      : null);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const email = f.email.value.trim();
    const password = f.password.value;
    let ok = checkEmail(f, email);
    if (!password) { setFieldError(f, 'password', 'Enter your password.'); ok = false; }
    if (!ok) return focusFirstError(f);
    await busy(submit, 'Logging in…', async () => {
      try {
        const r = await app.cognito.initiatePasswordAuth(email, password);
        if (r.ChallengeName === 'SOFTWARE_TOKEN_MFA') {
          root.replaceWith(mfaStep(app, email, r, query));
          return;
        }
        if (r.ChallengeName) {
          setFormError(f, 'This account needs a new password. Use "Forgot your password?" to set one.');
          return;
        }
        app.session.set(r.AuthenticationResult);
        app.navigate(query.next && query.next.startsWith('/') ? query.next : '/dashboard');
      } catch (err) {
        if (err.code === 'UserNotConfirmedException') {
          app.flash('Your account is not confirmed yet. Enter the code we emailed you.');
          app.navigate('/confirm', { email });
          return;
        }
        showError(f, err, 'login');
      }
    });
  });
  return root;
}

/** The second login step when the account has an authenticator app (TOTP). */
export function mfaStep(app, email, challenge, query = {}) {
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Verify');
  const f = form('mfa',
    field({ label: 'Code from your authenticator app', name: 'code', attrs: { inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]*', maxlength: '6', required: true } }),
    submit);
  let session = challenge.Session;
  const username = (challenge.ChallengeParameters && challenge.ChallengeParameters.USER_ID_FOR_SRP) || email;
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const code = f.code.value.trim();
    if (!/^\d{6}$/.test(code)) { setFieldError(f, 'code', 'Enter the 6-digit code.'); return focusFirstError(f); }
    await busy(submit, 'Verifying…', async () => {
      try {
        const r = await app.cognito.respondSoftwareTokenMfa(session, username, code);
        if (r.Session) session = r.Session;
        app.session.set(r.AuthenticationResult);
        app.navigate(query.next && query.next.startsWith('/') ? query.next : '/dashboard');
      } catch (err) {
        if (err.code === 'NotAuthorizedException') {
          setFormError(f, 'This sign-in attempt has expired. Start again from the login page.');
          return;
        }
        showError(f, err, 'mfa');
      }
    });
  });
  const root = shell('Two-step verification', 'Open your authenticator app and enter the current code.', f,
    h('p', { class: 'links' }, h('a', { href: '#/login' }, 'Back to log in')));
  setTimeout(() => f.code.focus(), 0);
  return root;
}

export function signupView(app, query) {
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create account');
  const f = form('signup',
    field({ label: 'Email', name: 'email', type: 'email', value: query.email || '', attrs: { autocomplete: 'email', required: true } }),
    passwordWithRules('Password'), submit);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const email = f.email.value.trim();
    const password = f.password.value;
    let ok = checkEmail(f, email);
    const problem = password ? passwordProblem(password) : 'Choose a password.';
    if (problem) { setFieldError(f, 'password', problem); ok = false; }
    if (!ok) return focusFirstError(f);
    await busy(submit, 'Creating account…', async () => {
      try {
        const r = await app.cognito.signUp(email, password);
        if (r.UserConfirmed) {
          app.flash('Your account is ready. Log in.');
          app.navigate('/login', { email });
          return;
        }
        const dest = (r.CodeDeliveryDetails && r.CodeDeliveryDetails.Destination) || email;
        app.flash(`We sent a confirmation code to ${dest}.`);
        app.navigate('/confirm', { email });
      } catch (err) {
        showError(f, err, 'signup');
      }
    });
  });
  return shell('Create your account', 'It takes a minute. You will confirm your email with a code.', f,
    h('p', { class: 'links' }, 'Already have an account? ', h('a', { href: '#/login' }, 'Log in')));
}

export function confirmView(app, query) {
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Confirm account');
  const resend = h('button', { type: 'button', class: 'secondary' }, 'Send a new code');
  const f = form('confirm',
    field({ label: 'Email', name: 'email', type: 'email', value: query.email || '', attrs: { autocomplete: 'username', required: true } }),
    field({ label: 'Confirmation code', name: 'code', hint: 'The 6-digit code from the email we sent you.', attrs: { inputmode: 'numeric', autocomplete: 'one-time-code', required: true } }),
    h('div', { class: 'actions' }, submit, resend));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const email = f.email.value.trim();
    const code = f.code.value.trim();
    let ok = checkEmail(f, email);
    if (!code) { setFieldError(f, 'code', 'Enter the code from the email.'); ok = false; }
    if (!ok) return focusFirstError(f);
    await busy(submit, 'Confirming…', async () => {
      try {
        await app.cognito.confirmSignUp(email, code);
        app.flash('Your account is confirmed. Log in to continue.');
        app.navigate('/login', { email });
      } catch (err) {
        showError(f, err, 'confirm');
      }
    });
  });
  resend.addEventListener('click', async () => {
    clearErrors(f);
    const email = f.email.value.trim();
    if (!checkEmail(f, email)) return focusFirstError(f);
    await busy(resend, 'Sending…', async () => {
      try {
        const r = await app.cognito.resendConfirmationCode(email);
        const dest = (r.CodeDeliveryDetails && r.CodeDeliveryDetails.Destination) || email;
        announce(`We sent a new code to ${dest}.`);
        setFormError(f, '');
        f.querySelector('.resend-note').textContent = `We sent a new code to ${dest}.`;
      } catch (err) {
        if (/Unsupported/.test(err.code) && app.config.environment === 'local') {
          setFormError(f, 'The local sign-in service (cognito-local) cannot resend codes. Your code is in its log: .local/cognito.log.');
          return;
        }
        showError(f, err, 'confirm');
      }
    });
  });
  f.append(h('p', { class: 'resend-note', role: 'status' }));
  return shell('Confirm your email', 'Enter the code we emailed you to activate your account.', flashBox(app), f,
    h('p', { class: 'links' }, h('a', { href: '#/login' }, 'Back to log in')));
}

export function forgotView(app, query) {
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Send reset code');
  const f = form('forgot',
    field({ label: 'Email', name: 'email', type: 'email', value: query.email || '', attrs: { autocomplete: 'username', required: true } }),
    submit);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const email = f.email.value.trim();
    if (!checkEmail(f, email)) return focusFirstError(f);
    await busy(submit, 'Sending…', async () => {
      try {
        const r = await app.cognito.forgotPassword(email);
        const dest = (r.CodeDeliveryDetails && r.CodeDeliveryDetails.Destination) || email;
        app.flash(`If an account exists for ${email}, we sent a reset code to ${dest}.`);
        app.navigate('/reset', { email });
      } catch (err) {
        showError(f, err, 'forgot');
      }
    });
  });
  return shell('Reset your password', 'We will email you a code to choose a new password.', flashBox(app), f,
    h('p', { class: 'links' }, h('a', { href: '#/login' }, 'Back to log in')));
}

export function resetView(app, query) {
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Set new password');
  const f = form('reset',
    field({ label: 'Email', name: 'email', type: 'email', value: query.email || '', attrs: { autocomplete: 'username', required: true } }),
    field({ label: 'Reset code', name: 'code', hint: 'The code from the email we sent you.', attrs: { inputmode: 'numeric', autocomplete: 'one-time-code', required: true } }),
    passwordWithRules('New password'), submit);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const email = f.email.value.trim();
    const code = f.code.value.trim();
    const password = f.password.value;
    let ok = checkEmail(f, email);
    if (!code) { setFieldError(f, 'code', 'Enter the code from the email.'); ok = false; }
    const problem = password ? passwordProblem(password) : 'Choose a new password.';
    if (problem) { setFieldError(f, 'password', problem); ok = false; }
    if (!ok) return focusFirstError(f);
    await busy(submit, 'Saving…', async () => {
      try {
        await app.cognito.confirmForgotPassword(email, code, password);
        app.flash('Your password has been changed. Log in with your new password.');
        app.navigate('/login', { email });
      } catch (err) {
        showError(f, err, 'reset');
      }
    });
  });
  return shell('Choose a new password', null, flashBox(app), f,
    h('p', { class: 'links' }, 'No code? ', h('a', { href: `#/forgot` }, 'Send another')));
}
