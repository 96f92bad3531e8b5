// dom.js - tiny DOM helpers. Text always goes in as text nodes (never innerHTML), so user
// content (item titles, names) cannot inject markup.

/** h('button', {class: 'x', onclick: fn}, 'text', child...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let uid = 0;
/** A labelled form field with a hint and an error slot wired through aria-describedby. */
export function field({ label, name, type = 'text', value = '', hint = '', attrs = {}, control = null }) {
  const id = `f-${name}-${++uid}`;
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy = [hint ? hintId : '', errId].filter(Boolean).join(' ');
  const input = control || (type === 'textarea'
    ? h('textarea', { id, name, ...attrs }, value)
    : h('input', { id, name, type, value, ...attrs }));
  input.id = id;
  input.name = name;
  input.setAttribute('aria-describedby', describedBy);
  return h('div', { class: 'field', dataset: { field: name } },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errId, 'aria-live': 'polite' }));
}

/** Shows msg under the named field of form (or clears it with ''); focuses the first error. */
export function setFieldError(form, name, msg) {
  const wrap = form.querySelector(`[data-field="${name}"]`);
  if (!wrap) return false;
  const input = wrap.querySelector('input, textarea, select');
  wrap.querySelector('.field-error').textContent = msg || '';
  wrap.classList.toggle('invalid', !!msg);
  if (input) input.setAttribute('aria-invalid', msg ? 'true' : 'false');
  return true;
}

export function clearErrors(form) {
  form.querySelectorAll('[data-field]').forEach((w) => setFieldError(form, w.dataset.field, ''));
  const banner = form.querySelector('.form-error');
  if (banner) { banner.textContent = ''; banner.hidden = true; }
}

/** A form-level error (role=alert) at the top of the form. */
export function setFormError(form, msg) {
  const banner = form.querySelector('.form-error');
  banner.textContent = msg || '';
  banner.hidden = !msg;
}

export function focusFirstError(form) {
  const bad = form.querySelector('[aria-invalid="true"]');
  if (bad) bad.focus();
}

/** Disables the submit button and shows a spinner label while fn() runs. */
export async function busy(button, label, fn) {
  const old = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = label;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = old;
  }
}

/** Announces msg to screen readers through the global polite live region, and as a toast. */
export function announce(msg) {
  const live = document.getElementById('announcer');
  if (!live) return;
  live.textContent = '';
  // A new text node after a tick makes screen readers re-read an identical message.
  setTimeout(() => { live.textContent = msg; }, 30);
}
