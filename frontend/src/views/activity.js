// views/activity.js - items created per day over the last 30 days (GET /activity), drawn with
// Chart.js (bundled from npm; only the bar chart parts are registered).

import { Chart, BarController, BarElement, CategoryScale, LinearScale, Tooltip } from 'chart.js';
import { h } from '../dom.js';
import { card, loadable, empty } from './ui.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

const DAYS = 30;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function shortDate(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

export function activitySection(app) {
  const { el, body } = card('activity', 'Activity', h('p', { class: 'card-sub' }, `Items created per day, last ${DAYS} days`));
  let chart = null;
  const render = (data) => {
    if (chart) { chart.destroy(); chart = null; }
    const days = Array.isArray(data && data.days) ? data.days : [];
    const total = days.reduce((n, d) => n + (Number(d.created) || 0), 0);
    if (!days.length || total === 0) {
      return empty('No activity yet', 'Items you create will show up here, one bar per day.');
    }
    const canvas = h('canvas', { role: 'img', 'aria-label': `Bar chart: ${total} items created in the last ${days.length} days` });
    const wrap = h('div', {},
      h('p', { class: 'stat' }, h('strong', {}, String(total)), ` item${total === 1 ? '' : 's'} created`),
      h('div', { class: 'chart-box' }, canvas),
      dataTable(days));
    // Chart.js needs the canvas in the document to size it: create it on the next frame.
    requestAnimationFrame(() => {
      if (!canvas.isConnected) return;
      chart = new Chart(canvas, {
        type: 'bar',
        data: {
          labels: days.map((d) => shortDate(d.date)),
          datasets: [{ label: 'Items created', data: days.map((d) => Number(d.created) || 0), backgroundColor: cssVar('--accent') || '#5b5bd6', borderRadius: 4 }],
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          scales: {
            x: { ticks: { color: cssVar('--muted'), maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { display: false } },
            y: { beginAtZero: true, ticks: { color: cssVar('--muted'), precision: 0 }, grid: { color: cssVar('--line') } },
          },
          plugins: { legend: { display: false } },
        },
      });
      el.dataset.chart = 'ready';
    });
    return wrap;
  };
  const reload = loadable(el, body, () => { delete el.dataset.chart; return app.api.get(`/activity?days=${DAYS}`); }, render, () => app.expired());
  return { el, reload };
}

/** The same numbers as a table for screen readers (visually hidden). */
function dataTable(days) {
  return h('table', { class: 'sr-only' },
    h('caption', {}, 'Items created per day'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col' }, 'Created'))),
    h('tbody', {}, days.map((d) => h('tr', {}, h('td', {}, d.date), h('td', {}, String(d.created || 0))))));
}
