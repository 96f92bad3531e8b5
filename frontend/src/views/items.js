// views/items.js - the items list: create, inline edit, inline-confirmed delete (both sending
// the item's version for optimistic concurrency), and "load more" cursor pagination.

import { h, field, setFieldError, setFormError, clearErrors, focusFirstError, busy, announce } from '../dom.js';
import { apiMessage } from '../errors.js';
import { card, loadable, empty, errorBox, ago } from './ui.js';

const STATUSES = [['todo', 'To do'], ['doing', 'In progress'], ['done', 'Done']];
const statusLabel = (s) => (STATUSES.find((x) => x[0] === s) || [s, s])[1];

function statusSelect(value = 'todo') {
  return h('select', {}, STATUSES.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
}

/** Shows an API error next to its field, else at the top of the form. */
export function showApiError(form, err) {
  if (err.field && setFieldError(form, err.field.replace(/^.*\./, ''), err.message || apiMessage(err))) {
    focusFirstError(form);
    return;
  }
  setFormError(form, apiMessage(err));
}

export function itemsSection(app, { limit, onChange }) {
  const { el, body } = card('items', 'Your items');
  const state = { items: [], cursor: null };
  const list = h('ul', { class: 'item-list', 'aria-label': 'Items' });
  const more = h('div', { class: 'more' });
  const count = h('p', { class: 'count', role: 'status' });

  const createForm = newItemForm(app, (item) => {
    state.items = [item, ...state.items.filter((x) => x.id !== item.id)];
    renderList();
    announce(`Added “${item.title}”.`);
    onChange();
  });

  function updateCount() {
    count.textContent = state.items.length ? `${state.items.length} shown${state.cursor ? ', more available' : ''}` : '';
  }

  function renderList() {
    list.replaceChildren(...state.items.map((it) => itemRow(it)));
    updateCount();
    more.replaceChildren();
    if (!state.items.length) {
      list.replaceChildren(h('li', { class: 'empty-row' },
        empty('No items yet', 'Add your first item with the form above. It will also show up in your activity chart.')));
    }
    if (state.cursor) more.append(loadMoreButton());
  }

  function loadMoreButton() {
    const b = h('button', { type: 'button', class: 'secondary' }, 'Load more');
    b.addEventListener('click', async () => {
      const err = more.querySelector('.error-state');
      if (err) err.remove();
      const ok = await busy(b, 'Loading…', async () => {
        try {
          const page = await app.api.get(`/items?limit=${limit}&cursor=${encodeURIComponent(state.cursor)}`);
          const seen = new Set(state.items.map((i) => i.id));
          const fresh = (page.items || []).filter((i) => !seen.has(i.id));
          state.items.push(...fresh);
          state.cursor = page.cursor || null;
          announce(`Loaded ${fresh.length} more item${fresh.length === 1 ? '' : 's'}.`);
          return true;
        } catch (e) {
          if (e.status === 401) app.expired();
          else more.append(errorBox(`${apiMessage(e)} Use “Load more” to try again.`, null));
          return false;
        }
      });
      if (!ok) return;
      const firstNew = list.children.length;
      renderList();
      const target = list.children[firstNew] || list.lastElementChild;
      if (target && state.items.length) { const a = target.querySelector('h3'); if (a) a.focus(); }
    });
    return b;
  }

  function replaceItem(item) {
    const i = state.items.findIndex((x) => x.id === item.id);
    if (i >= 0) state.items[i] = item;
  }
  function removeItem(id) {
    state.items = state.items.filter((x) => x.id !== id);
    updateCount();
  }

  function itemRow(item) {
    const li = h('li', { class: 'item', dataset: { id: item.id, version: item.version } });
    const editBtn = h('button', { type: 'button', class: 'secondary small' }, 'Edit');
    const delBtn = h('button', { type: 'button', class: 'danger small' }, 'Delete');
    const view = h('div', { class: 'item-view' },
      h('div', { class: 'item-main' },
        h('h3', { tabindex: '-1' }, item.title),
        item.description ? h('p', { class: 'desc' }, item.description) : null,
        h('p', { class: 'meta' },
          h('span', { class: `badge status-${item.status}` }, statusLabel(item.status)),
          ` Updated ${ago(item.updatedAt)} · version ${item.version}`)),
      h('div', { class: 'item-actions' }, editBtn, delBtn));
    li.append(view);
    editBtn.addEventListener('click', () => { li.replaceChildren(editForm(item, li)); li.querySelector('input').focus(); });
    delBtn.addEventListener('click', () => { li.replaceChildren(view, deleteConfirm(item, li, view)); li.querySelector('.confirm .danger').focus(); });
    return li;
  }

  function editForm(item, li) {
    const save = h('button', { type: 'submit', class: 'primary small' }, 'Save');
    const cancel = h('button', { type: 'button', class: 'secondary small' }, 'Cancel');
    const f = h('form', { class: 'form item-edit', novalidate: true, 'aria-label': `Edit ${item.title}` },
      h('div', { class: 'form-error', role: 'alert', hidden: true }),
      field({ label: 'Title', name: 'title', value: item.title, attrs: { required: true, maxlength: '120' } }),
      field({ label: 'Description', name: 'description', type: 'textarea', value: item.description || '', attrs: { rows: '3', maxlength: '2000' } }),
      field({ label: 'Status', name: 'status', control: statusSelect(item.status) }),
      h('div', { class: 'actions' }, save, cancel));
    f.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); cancel.click(); } });
    cancel.addEventListener('click', () => {
      const row = itemRow(item);
      li.replaceWith(row);
      row.querySelector('button').focus();
    });
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(f);
      const title = f.title.value.trim();
      if (!title) { setFieldError(f, 'title', 'Give the item a title.'); return focusFirstError(f); }
      await busy(save, 'Saving…', async () => {
        try {
          const updated = await app.api.put(`/items/${encodeURIComponent(item.id)}`, {
            title, description: f.description.value, status: f.status.value, version: item.version,
          });
          replaceItem(updated);
          const row = itemRow(updated);
          li.replaceWith(row);
          row.querySelector('h3').focus();
          announce(`Saved “${updated.title}”.`);
          onChange();
        } catch (err) {
          if (err.status === 401) return app.expired();
          if (err.status === 409) return conflict(f, item, li);
          if (err.status === 404) { gone(item, li); return; }
          showApiError(f, err);
        }
      });
    });
    return f;
  }

  function conflict(f, item, li) {
    setFormError(f, apiMessage({ code: 'conflict' }));
    const reload = h('button', { type: 'button', class: 'secondary small' }, 'Reload item');
    reload.addEventListener('click', async () => {
      await busy(reload, 'Reloading…', async () => {
        try {
          const fresh = await app.api.get(`/items/${encodeURIComponent(item.id)}`);
          replaceItem(fresh);
          const row = itemRow(fresh);
          li.replaceWith(row);
          row.querySelector('h3').focus();
        } catch (err) {
          if (err.status === 404) gone(item, li);
          else setFormError(f, apiMessage(err));
        }
      });
    });
    f.querySelector('.actions').append(reload);
  }

  function gone(item, li) {
    removeItem(item.id);
    li.remove();
    announce(`“${item.title}” no longer exists.`);
    if (!state.items.length) renderList();
  }

  function deleteConfirm(item, li, view) {
    const yes = h('button', { type: 'button', class: 'danger small' }, 'Delete');
    const no = h('button', { type: 'button', class: 'secondary small' }, 'Keep');
    const msg = h('p', { class: 'field-error', role: 'alert' });
    const box = h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm delete' },
      h('span', {}, `Delete “${item.title}”? This cannot be undone.`), yes, no, msg);
    box.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); no.click(); } });
    no.addEventListener('click', () => { const row = itemRow(item); li.replaceWith(row); row.querySelector('button').focus(); });
    yes.addEventListener('click', async () => {
      await busy(yes, 'Deleting…', async () => {
        try {
          await app.api.del(`/items/${encodeURIComponent(item.id)}?version=${item.version}`);
          const next = li.nextElementSibling || li.previousElementSibling;
          removeItem(item.id);
          li.remove();
          announce(`Deleted “${item.title}”.`);
          if (!state.items.length) renderList();
          else if (next && next.querySelector('h3')) next.querySelector('h3').focus();
          onChange();
        } catch (err) {
          if (err.status === 401) return app.expired();
          if (err.status === 404) return gone(item, li);
          msg.textContent = apiMessage(err);
          if (err.status === 409) {
            const reload = h('button', { type: 'button', class: 'secondary small' }, 'Reload item');
            reload.addEventListener('click', async () => {
              try { const fresh = await app.api.get(`/items/${encodeURIComponent(item.id)}`); replaceItem(fresh); li.replaceWith(itemRow(fresh)); } catch (e) { msg.textContent = apiMessage(e); }
            });
            box.append(reload);
          }
        }
      });
    });
    return box;
  }

  body.before(createForm);
  const reload = loadable(el, body, () => app.api.get(`/items?limit=${limit}`), (page) => {
    state.items = page.items || [];
    state.cursor = page.cursor || null;
    renderList();
    return h('div', {}, list, count, more);
  }, () => app.expired());
  return { el, reload };
}

function newItemForm(app, onCreated) {
  const add = h('button', { type: 'submit', class: 'primary' }, 'Add item');
  const f = h('form', { class: 'form new-item', novalidate: true, 'aria-label': 'New item' },
    h('div', { class: 'form-error', role: 'alert', hidden: true }),
    h('div', { class: 'row' },
      field({ label: 'Title', name: 'title', attrs: { required: true, maxlength: '120', placeholder: 'What needs doing?' } }),
      field({ label: 'Status', name: 'status', control: statusSelect('todo') })),
    field({ label: 'Description (optional)', name: 'description', type: 'textarea', attrs: { rows: '2', maxlength: '2000' } }),
    add);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(f);
    const title = f.title.value.trim();
    if (!title) { setFieldError(f, 'title', 'Give the item a title.'); return focusFirstError(f); }
    await busy(add, 'Adding…', async () => {
      try {
        const body = { title, status: f.status.value };
        if (f.description.value) body.description = f.description.value;
        const item = await app.api.post('/items', body);
        f.reset();
        onCreated(item);
        f.title.focus();
      } catch (err) {
        if (err.status === 401) return app.expired();
        showApiError(f, err);
      }
    });
  });
  return f;
}
