// views/profile.js - the profile editor (GET/PUT /profile); the API's validation errors are
// shown next to the field they name.

import { h, field, setFieldError, setFormError, clearErrors, focusFirstError, busy, announce } from '../dom.js';
import { apiMessage } from '../errors.js';
import { card, loadable } from './ui.js';

const FIELD_OF = { displayName: 'displayName', bio: 'bio', avatarColor: 'avatarColor', theme: 'theme', emailNotifications: 'emailNotifications' };

export function profileSection(app, { onSaved }) {
  const { el, body } = card('profile', 'Profile');
  const render = (p) => {
    const prefs = p.preferences || {};
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save profile');
    const saved = h('p', { class: 'saved', role: 'status' });
    const f = h('form', { class: 'form', novalidate: true, 'aria-label': 'Profile' },
      h('div', { class: 'form-error', role: 'alert', hidden: true }),
      field({ label: 'Display name', name: 'displayName', value: p.displayName || '', hint: 'Shown in your greeting. 1 to 60 characters.', attrs: { autocomplete: 'nickname' } }),
      field({ label: 'Bio', name: 'bio', type: 'textarea', value: p.bio || '', hint: 'Up to 500 characters.', attrs: { rows: '3' } }),
      h('div', { class: 'row' },
        field({ label: 'Avatar colour', name: 'avatarColor', type: 'color', value: /^#[0-9a-fA-F]{6}$/.test(p.avatarColor || '') ? p.avatarColor : '#5b5bd6' }),
        field({ label: 'Theme', name: 'theme', control: h('select', {},
          [['system', 'Same as device'], ['light', 'Light'], ['dark', 'Dark']].map(([v, t]) => h('option', { value: v, selected: (prefs.theme || 'system') === v }, t))) })),
      h('div', { class: 'field check', dataset: { field: 'emailNotifications' } },
        h('input', { type: 'checkbox', id: 'pref-email', name: 'emailNotifications', checked: !!prefs.emailNotifications }),
        h('label', { for: 'pref-email' }, 'Email me about activity'),
        h('p', { class: 'field-error', 'aria-live': 'polite' })),
      h('div', { class: 'actions' }, save, saved));
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(f);
      saved.textContent = '';
      const body = {
        displayName: f.displayName.value.trim(),
        bio: f.bio.value,
        avatarColor: f.avatarColor.value,
        preferences: { theme: f.theme.value, emailNotifications: f.emailNotifications.checked },
      };
      if (!body.displayName) { setFieldError(f, 'displayName', 'Enter a display name.'); return focusFirstError(f); }
      await busy(save, 'Saving…', async () => {
        try {
          const updated = await app.api.put('/profile', body);
          saved.textContent = 'Saved.';
          announce('Profile saved.');
          onSaved(updated);
        } catch (err) {
          if (err.status === 401) return app.expired();
          const name = err.field && FIELD_OF[String(err.field).replace(/^preferences\./, '')];
          if (name && setFieldError(f, name, err.message || apiMessage(err))) return focusFirstError(f);
          setFormError(f, apiMessage(err));
        }
      });
    });
    return f;
  };
  const reload = loadable(el, body, () => app.api.get('/profile'), (p) => { onSaved(p, true); return render(p); }, () => app.expired());
  return { el, reload };
}
