// views/mfa.js - optional two-step verification with an authenticator app (TOTP):
// AssociateSoftwareToken -> VerifySoftwareToken -> SetUserMFAPreference, all with the access
// token, straight to Cognito. After that, log in answers a SOFTWARE_TOKEN_MFA challenge
// (views/auth.js mfaStep). The user pool must allow MFA (MfaConfiguration OPTIONAL with
// software tokens enabled) for Cognito to ask for the code at log in.

import qrcode from 'qrcode-generator';
import { h, field, setFieldError, setFormError, clearErrors, focusFirstError, busy, announce } from '../dom.js';
import { cognitoMessage } from '../errors.js';
import { card, spinner, errorBox } from './ui.js';

function mfaError(err) {
  if (/Unsupported/.test(err.code || '')) return { field: null, message: 'The sign-in service in use does not support authenticator apps.' };
  if (err.code === 'InvalidParameterException' && /mfa/i.test(err.message || '')) {
    return { field: null, message: 'Two-step verification is not enabled for this user pool.' };
  }
  return cognitoMessage(err, 'mfa');
}

/** Groups a base32 secret in blocks of four for reading and typing. */
export function groupSecret(secret) {
  return String(secret).replace(/(.{4})/g, '$1 ').trim();
}

/** The otpauth URI as an SVG QR code (built with DOM nodes: no innerHTML, CSP-safe). */
export function qrSvg(text, label) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  let d = '';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
  }
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const size = n + quiet * 2;
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('fill', '#fff');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return svg;
}

export function otpauthUri(secret, email, issuer = 'Moonbase') {
  return `otpauth://totp/${encodeURIComponent(issuer)}:${encodeURIComponent(email)}?secret=${encodeURIComponent(secret)}&issuer=${encodeURIComponent(issuer)}`;
}

export function mfaSection(app) {
  const { el, body } = card('security', 'Two-step verification');

  async function load() {
    body.replaceChildren(spinner());
    try {
      const user = await app.cognito.getUser(await app.session.accessToken());
      const on = (user.UserMFASettingList || []).includes('SOFTWARE_TOKEN_MFA');
      body.replaceChildren(on ? enabledView() : offView());
    } catch (err) {
      if (err.code === 'NotAuthorizedException') return app.expired();
      body.replaceChildren(errorBox(mfaError(err).message, load));
    }
  }

  function offView() {
    const start = h('button', { type: 'button', class: 'secondary' }, 'Set up authenticator app');
    const msg = h('p', { class: 'field-error', role: 'alert' });
    start.addEventListener('click', async () => {
      msg.textContent = '';
      await busy(start, 'Starting…', async () => {
        try {
          const r = await app.cognito.associateSoftwareToken(await app.session.accessToken());
          body.replaceChildren(setupView(r.SecretCode));
          body.querySelector('input[name="code"]').focus();
        } catch (err) {
          msg.textContent = mfaError(err).message;
        }
      });
    });
    return h('div', { dataset: { mfa: 'off' } },
      h('p', {}, 'Off. Add a second step to your log in with an authenticator app such as 1Password, Google Authenticator or Authy.'),
      start, msg);
  }

  function setupView(secret) {
    const verify = h('button', { type: 'submit', class: 'primary' }, 'Verify and turn on');
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const uri = otpauthUri(secret, app.session.email);
    const f = h('form', { class: 'form', novalidate: true, 'aria-label': 'Set up authenticator app' },
      h('div', { class: 'form-error', role: 'alert', hidden: true }),
      h('ol', { class: 'steps' },
        h('li', {}, 'Scan this QR code with your authenticator app, or enter the setup key by hand (or open the link on this device):',
          qrSvg(uri, 'QR code for your authenticator app'),
          h('code', { class: 'secret', dataset: { secret } }, groupSecret(secret)),
          h('a', { href: uri, class: 'small' }, 'Open in authenticator app')),
        h('li', {}, 'Enter the 6-digit code the app shows.')),
      field({ label: '6-digit code', name: 'code', attrs: { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: true } }),
      field({ label: 'Device name (optional)', name: 'device', value: 'Authenticator app' }),
      h('div', { class: 'actions' }, verify, cancel));
    cancel.addEventListener('click', () => { body.replaceChildren(offView()); });
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(f);
      const code = f.code.value.trim();
      if (!/^\d{6}$/.test(code)) { setFieldError(f, 'code', 'Enter the 6-digit code from your app.'); return focusFirstError(f); }
      await busy(verify, 'Verifying…', async () => {
        try {
          const token = await app.session.accessToken();
          const r = await app.cognito.verifySoftwareToken(token, code, f.device.value.trim() || undefined);
          if (r.Status && r.Status !== 'SUCCESS') throw Object.assign(new Error(), { code: 'EnableSoftwareTokenMFAException' });
          await app.cognito.setSoftwareTokenMfa(token, true);
          announce('Two-step verification is on.');
          body.replaceChildren(enabledView());
        } catch (err) {
          const m = mfaError(err);
          if (!m.field || !setFieldError(f, m.field, m.message)) setFormError(f, m.message);
          focusFirstError(f);
        }
      });
    });
    return f;
  }

  function enabledView() {
    const off = h('button', { type: 'button', class: 'danger' }, 'Turn off');
    const msg = h('p', { class: 'field-error', role: 'alert' });
    off.addEventListener('click', async () => {
      msg.textContent = '';
      await busy(off, 'Turning off…', async () => {
        try {
          await app.cognito.setSoftwareTokenMfa(await app.session.accessToken(), false);
          announce('Two-step verification is off.');
          body.replaceChildren(offView());
        } catch (err) {
          msg.textContent = mfaError(err).message;
        }
      });
    });
    return h('div', { dataset: { mfa: 'on' } },
      h('p', {}, h('span', { class: 'badge status-done' }, 'On'), ' You will be asked for a code from your authenticator app when you log in.'),
      off, msg);
  }

  load();
  return { el, reload: load };
}
