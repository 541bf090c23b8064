// The History page's pure helpers (no DOM, no JSX: node --test runs them, test/units.test.js).
import { parseMatcher, quoteValue, splitMatchers } from './matchers.js';
import { fromLocalInput } from './time.js';

export const RANGES = ['1h', '6h', '24h', '7d', '30d'];
export const CUSTOM = 'custom';
const DEFAULT_RANGE = '24h';

/** The time range of a URL's query: a preset duration before now (`range=7d`, default 24h), or
 * `range=custom` with `from` and `to` (RFC 3339); anything else is the default. */
export function readRange(query) {
  const range = query.get('range') || DEFAULT_RANGE;
  if (range === CUSTOM) {
    const from = new Date(query.get('from') || '');
    const to = new Date(query.get('to') || '');
    if (!Number.isNaN(from.getTime()) && !Number.isNaN(to.getTime()) && from < to) return { preset: CUSTOM, from, to };
  }
  return { preset: RANGES.includes(range) ? range : DEFAULT_RANGE, from: null, to: null };
}

/** The API's `since`/`until`: a preset is a duration the API reads as "that long before now". */
export function rangeParams(range) {
  if (range.preset === CUSTOM) return { since: range.from.toISOString(), until: range.to.toISOString() };
  return { since: range.preset };
}

/** The range as the URL keeps it (readRange reads it back; the default is left out). */
export function rangeQuery(range) {
  if (range.preset === CUSTOM) return { range: CUSTOM, from: range.from.toISOString(), to: range.to.toISOString() };
  return { range: range.preset === DEFAULT_RANGE ? null : range.preset };
}

/** A custom range's fields as typed (datetime-local values), or an Error saying what is wrong. */
export function draftRange(range, draft) {
  if (range.preset !== CUSTOM) return range;
  const from = fromLocalInput(draft.from);
  const to = fromLocalInput(draft.to);
  if (!from || !to) return new Error('the custom range needs both a start and an end');
  if (from >= to) return new Error('the range must start before it ends');
  return { preset: CUSTOM, from, to };
}

/** The history API cannot answer at all: no usable PostgreSQL (503 `unavailable`, also a schema
 * that is not current), or it wants a bearer token the browser does not send (401). A 503 `timeout`
 * is one query that ran too long, not the history missing. */
export function unavailable(error) {
  if (!error) return false;
  if (error.status === 401) return true;
  return error.status === 503 && !(error.body && error.body.error === 'timeout');
}

export function matcherText(name, value) {
  return `${name}=${quoteValue(value)}`;
}

/** Whether every matcher of a filter is one the equality-only queries take; one that does not
 * parse counts as equality (the API says what is wrong with it). */
export function equalityOnly(filter) {
  return splitMatchers(filter).every((text) => {
    try {
      return !parseMatcher(text).op.includes('~');
    } catch {
      return true;
    }
  });
}

/** Seconds as the API's window text: "30m", "6h", "2d", "90s". */
export function windowText(seconds) {
  for (const [size, unit] of [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
  ]) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** Firing spans (ms) from changes oldest first: a span opens at the first firing change after a
 * resolved one (or the first change), closes at the next resolved one; one still open runs to `end`. */
export function firingSpans(changes, end) {
  const spans = [];
  let open = null;
  for (const c of changes) {
    const at = new Date(c.at).getTime();
    if (c.status === 'firing' && open === null) open = at;
    if (c.status === 'resolved' && open !== null) {
      spans.push({ from: open, to: at, open: false });
      open = null;
    }
  }
  if (open !== null) spans.push({ from: open, to: end, open: true });
  return spans;
}
