// tests/learn/insights.test.mjs - the Logs Insights subset evaluator of the learner track
// (learn/checker/insights.mjs): each supported command and operator on a few rows, the answers
// worked out by hand; anything outside the subset must be refused by name, never ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runQuery, rowsFromLines, QueryError } from '../../learn/checker/insights.mjs';

const lines = [
  { timestamp: '2026-01-01T00:00:01Z', type: 'access', route: 'GET /a', status: 200, durationMs: 5 },
  { timestamp: '2026-01-01T00:00:02Z', type: 'access', route: 'GET /a', status: 500, durationMs: 50, errorType: 'Boom' },
  { timestamp: '2026-01-01T00:00:03Z', type: 'access', route: 'GET /b', status: 404, durationMs: 1 },
  { timestamp: '2026-01-01T00:00:04Z', type: 'access', status: 404, durationMs: 2 },
  { timestamp: '2026-01-01T00:00:05Z', level: 'WARN', message: 'auth failed', route: 'GET /b', detail: { reason: 'expired' } },
  { _aws: { Timestamp: 1767225606000 }, Latency: 3 },
].map((o) => JSON.stringify(o));
const rows = () => rowsFromLines(lines);
const q = (text) => runQuery(text, rows());

test('filter with and/or/not, comparisons, ispresent', () => {
  assert.deepEqual(q('filter status >= 400 and ispresent(route) | fields route, status').rows,
    [{ route: 'GET /a', status: 500 }, { route: 'GET /b', status: 404 }]);
  assert.equal(q('filter not ispresent(status)').rows.length, 2);
  assert.equal(q('filter status = 200 or level = "WARN"').rows.length, 2);
  assert.equal(q('filter (status = 200 or status = 500) and route = "GET /a"').rows.length, 2);
  assert.equal(q('filter status != 404 and type = "access"').rows.length, 2);
  assert.equal(q('filter status < 300').rows.length, 1);
});

test('like, =~, in, nested fields, comments', () => {
  assert.equal(q('filter message like "auth"').rows.length, 1);
  assert.equal(q('filter route like /^GET \\/b$/').rows.length, 2);
  assert.equal(q('filter route =~ /a$/').rows.length, 2);
  assert.equal(q('filter status in [404, 500]').rows.length, 3);
  assert.equal(q('filter status not in [404, 500] and type = "access"').rows.length, 1);
  assert.equal(q('filter detail.reason = "expired"').rows.length, 1);
  assert.equal(q('# a comment\nfilter status = 200 # another\n').rows.length, 1);
});

test('stats: count, sum, avg, min, max, pct, count_distinct, by, as', () => {
  const r = q('filter type = "access" | stats count(*) as n, sum(durationMs) as total, avg(durationMs), ' +
    'min(durationMs), max(durationMs), pct(durationMs, 50) as p50, count_distinct(route) as routes');
  assert.deepEqual(r.columns, ['n', 'total', 'avg(durationMs)', 'min(durationMs)', 'max(durationMs)', 'p50', 'routes']);
  assert.deepEqual(r.rows, [{ n: 4, total: 58, 'avg(durationMs)': 14.5, 'min(durationMs)': 1, 'max(durationMs)': 50, p50: 2, routes: 2 }]);
  const by = q('filter type = "access" | stats count(*) as n by route | sort n desc');
  assert.deepEqual(by.rows, [{ route: 'GET /a', n: 2 }, { route: 'GET /b', n: 1 }, { route: null, n: 1 }]);
  assert.deepEqual(q('stats count(errorType) as e').rows, [{ e: 1 }]);
});

test('earliest, latest, @timestamp, sort asc and limit', () => {
  assert.deepEqual(q('filter type = "access" | stats earliest(status) as first, latest(status) as last').rows,
    [{ first: 200, last: 404 }]);
  assert.deepEqual(q('filter ispresent(status) | sort durationMs asc | limit 2 | fields durationMs').rows,
    [{ durationMs: 1 }, { durationMs: 2 }]);
  assert.deepEqual(q('sort @timestamp desc | limit 1 | fields Latency').rows, [{ Latency: 3 }]);
});

test('outside the subset: refused with the reason', () => {
  for (const [text, re] of [
    ['parse @message "* *" as a, b', /command "parse" is not supported/],
    ['stats count(*) by bin(5m)', /unexpected "\("/],
    ['filter status > 1 +', /unknown operator|ends too early|unexpected/],
    ['stats median(durationMs)', /median\(\) is not supported/],
    ['filter route like 5', /needs a "string" or a \/regex\//],
    ['filter status = "a', /unterminated string/],
    ['limit 0', /positive/],
    ['', /empty/],
    ['# only a comment', /empty/],
  ]) {
    assert.throws(() => q(text), (e) => e instanceof QueryError && re.test(e.message), text);
  }
});
