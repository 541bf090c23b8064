// Unit tests of the UI's pure helpers (node --test; run by tests/integration/ui/test_bundle.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMatcher, fromApi, labelMatchers, matchesEmpty, opOf, parseMatcher, toApi } from '../src/matchers.js';
import { formatDuration, fromLocalInput, parseDuration, relative, toLocalInput } from '../src/time.js';

test('a formatted matcher parses back to itself', () => {
  for (const value of ['', 'plain', 'with "quotes"', 'back\\slash', 'new\nline', 'comma, and } brace', 'ünïcode ✓']) {
    for (const op of ['=', '!=', '=~', '!~']) {
      const matcher = { name: 'label_1', op, value };
      assert.deepEqual(parseMatcher(formatMatcher(matcher)), matcher);
    }
  }
});

test('API matchers and editor rows convert both ways', () => {
  for (const op of ['=', '!=', '=~', '!~']) {
    const row = { name: 'a', op, value: 'v' };
    assert.deepEqual(fromApi(toApi(row)), row);
  }
  assert.equal(opOf({ isRegex: false }), '='); // isEqual absent: true, as the API defaults it
  assert.deepEqual(labelMatchers({ b: '2', a: '1' }), [
    { name: 'a', op: '=', value: '1' },
    { name: 'b', op: '=', value: '2' },
  ]);
});

test('matchesEmpty follows silence.go: only = and =~ count', () => {
  assert.equal(matchesEmpty({ op: '=', value: '' }), true);
  assert.equal(matchesEmpty({ op: '=~', value: '.*' }), true);
  assert.equal(matchesEmpty({ op: '=~', value: '.+' }), false);
  assert.equal(matchesEmpty({ op: '!=', value: 'x' }), false);
  assert.equal(matchesEmpty({ op: '!~', value: '.*' }), false);
});

test('durations: Prometheus units, two largest units when shown', () => {
  assert.equal(parseDuration('2h'), 2 * 3600e3);
  assert.equal(parseDuration('1d12h30m'), (36 * 60 + 30) * 60e3);
  assert.equal(parseDuration('1w'), 7 * 24 * 3600e3);
  for (const bad of ['', '2', 'h', '1.5h', '-1h', '0s', '2 h', '1y']) assert.equal(parseDuration(bad), null, bad);
  assert.equal(formatDuration(2 * 3600e3), '2h');
  assert.equal(formatDuration((26 * 60 + 5) * 60e3), '1d2h');
  assert.equal(formatDuration(45e3), '45s');
  assert.equal(formatDuration(0), '0s');
  assert.equal(relative(new Date(1000), 61000), '1m ago');
  assert.equal(relative(new Date(3600e3 + 5000), 5000), 'in 1h');
});

test('datetime-local values round-trip in local time', () => {
  const date = new Date(2026, 10, 24, 14, 3);
  assert.equal(toLocalInput(date), '2026-11-24T14:03');
  assert.equal(fromLocalInput('2026-11-24T14:03').getTime(), date.getTime());
  assert.equal(fromLocalInput('yesterday'), null);
  assert.equal(fromLocalInput(''), null);
});

test('history ranges: the URL, the API parameters and a custom range as typed', async () => {
  const { CUSTOM, draftRange, rangeParams, rangeQuery, readRange } = await import('../src/history.js');
  const q = (text) => new URLSearchParams(text);
  assert.deepEqual(readRange(q('')), { preset: '24h', from: null, to: null });
  assert.deepEqual(rangeParams(readRange(q('range=7d'))), { since: '7d' });
  assert.equal(readRange(q('range=5y')).preset, '24h'); // not a preset: the default
  const custom = readRange(q('range=custom&from=2026-11-01T10:00:00Z&to=2026-11-02T10:00:00Z'));
  assert.deepEqual(rangeParams(custom), { since: '2026-11-01T10:00:00.000Z', until: '2026-11-02T10:00:00.000Z' });
  assert.deepEqual(readRange(q(new URLSearchParams(rangeQuery(custom)).toString())), custom); // round trip
  assert.equal(readRange(q('range=custom&from=2026-11-02T10:00:00Z&to=2026-11-01T10:00:00Z')).preset, '24h'); // backwards
  assert.deepEqual(rangeQuery(readRange(q(''))), { range: null });
  assert.equal(draftRange({ preset: CUSTOM }, { from: '', to: '2026-11-01T10:00' }).message, 'the custom range needs both a start and an end');
  assert.equal(draftRange({ preset: CUSTOM }, { from: '2026-11-01T10:00', to: '2026-11-01T09:00' }).message, 'the range must start before it ends');
  const typed = draftRange({ preset: CUSTOM }, { from: '2026-11-01T10:00', to: '2026-11-01T11:00' });
  assert.equal(typed.to - typed.from, 3600e3);
});

test('history: equality-only filters, window text, unavailable answers', async () => {
  const { equalityOnly, matcherText, unavailable, windowText } = await import('../src/history.js');
  assert.equal(equalityOnly('team="db", instance!="x"'), true);
  assert.equal(equalityOnly('{team=~"d.*"}'), false);
  assert.equal(equalityOnly('a!~"b", c="d"'), false);
  assert.equal(equalityOnly('nope'), true); // the API's 400 says what is wrong
  assert.equal(equalityOnly(''), true);
  assert.equal(matcherText('team', 'say "hi"'), 'team="say \\"hi\\""');
  assert.deepEqual([1800, 21600, 172800, 90].map(windowText), ['30m', '6h', '2d', '90s']);
  assert.equal(unavailable({ status: 503, body: { error: 'unavailable' } }), true);
  assert.equal(unavailable({ status: 503, body: { error: 'timeout' } }), false); // one slow query
  assert.equal(unavailable({ status: 401, body: null }), true);
  assert.equal(unavailable({ status: 400, body: null }), false);
  assert.equal(unavailable(null), false);
});

test('history: firing spans from changes, one still open runs to the end', async () => {
  const { firingSpans } = await import('../src/history.js');
  const c = (minute, status) => ({ at: new Date(Date.UTC(2026, 10, 1, 10, minute)).toISOString(), status });
  const t = (minute) => Date.UTC(2026, 10, 1, 10, minute);
  const changes = [c(0, 'firing'), c(1, 'firing'), c(2, 'resolved'), c(3, 'resolved'), c(4, 'firing')];
  assert.deepEqual(firingSpans(changes, t(9)), [
    { from: t(0), to: t(2), open: false },
    { from: t(4), to: t(9), open: true },
  ]);
  assert.deepEqual(firingSpans([c(0, 'resolved')], t(9)), []);
});
