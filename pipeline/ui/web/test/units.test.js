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
