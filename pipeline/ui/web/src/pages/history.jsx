// History: the alert history kept in PostgreSQL, read through /api/history/* (pipeline/history/api.py).
// Four views under /history (search with a chart of firings, top alerts, flapping alerts, receivers),
// an alert's timeline (/history/alerts/<fingerprint>, linked from the alerts page) and a receiver's
// notifications (/history/receivers/<name>). Everything here reads: there is no write button.
//
// Filters are Alertmanager matchers sent as the API's `filter` values (the API parses them and its
// 400 message is shown). Top, flapping and the chart take equality matchers only (the API says so);
// the chart is skipped, saying why, when the search's filter has a regex matcher. When the bridge has
// no usable PostgreSQL the API answers 503 with the reason, and the page says exactly that.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { FiringsChart, TimelineStrip } from '../chart.jsx';
import { api } from '../api.js';
import { ErrorNote, LabelChip, Loading, RelTime } from '../components.jsx';
import {
  CUSTOM,
  RANGES,
  draftRange,
  equalityOnly,
  firingSpans,
  matcherText,
  rangeParams,
  rangeQuery,
  readRange,
  unavailable,
  windowText,
} from '../history.js';
import { splitMatchers } from '../matchers.js';
import { usePolling } from '../poll.js';
import { Link, replaceQuery } from '../router.jsx';
import { useRefresh } from '../settings.jsx';
import { formatClock, formatTime, parseDuration, toLocalInput } from '../time.js';

export const VIEWS = [
  { id: 'search', title: 'Search' },
  { id: 'top', title: 'Top alerts' },
  { id: 'flapping', title: 'Flapping' },
  { id: 'receivers', title: 'Receivers' },
];
const CHANGES = ['new', 'updated', 'resolved', 'expired'];
const PAGE = 50;
const OUTCOMES = ['delivered', 'retrying', 'dead_lettered', 'duplicate_skipped'];

// -- shared pieces ------------------------------------------------------------------------------------

/** The preset select (applied at once), and for a custom range two local date-time fields applied
 * with the form (`r.commit()`). `r`: useRange's state. */
function RangeFields({ r }) {
  const { range, draft, setDraft } = r;
  const onRange = r.setRange;
  return (
    <>
      <div class="field">
        <label for="history-range">Time range</label>
        <select
          id="history-range"
          value={range.preset}
          onChange={(event) => {
            const preset = event.currentTarget.value;
            if (preset === CUSTOM) {
              const to = new Date();
              const from = new Date(to.getTime() - (parseDuration(range.preset) || 864e5));
              setDraft({ from: toLocalInput(from), to: toLocalInput(to) });
              onRange({ preset: CUSTOM, from, to });
            } else onRange({ preset, from: null, to: null });
          }}
        >
          {RANGES.map((r) => (
            <option key={r} value={r}>
              last {r}
            </option>
          ))}
          <option value={CUSTOM}>custom…</option>
        </select>
      </div>
      {range.preset === CUSTOM && (
        <>
          <div class="field">
            <label for="history-from">From</label>
            <input id="history-from" type="datetime-local" value={draft.from} onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} />
          </div>
          <div class="field">
            <label for="history-to">To</label>
            <input id="history-to" type="datetime-local" value={draft.to} onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} />
          </div>
        </>
      )}
    </>
  );
}

/** A view's time range: the one applied (`range`), the custom fields as typed (`draft`), and
 * `commit()`, which applies the fields at a form's submit (false, with `error` set, when they are wrong). */
function useRange(query) {
  const [range, setRange] = useState(() => readRange(query));
  const [draft, setDraft] = useState(() =>
    range.preset === CUSTOM ? { from: toLocalInput(range.from), to: toLocalInput(range.to) } : { from: '', to: '' },
  );
  const [error, setError] = useState(null);
  const commit = () => {
    const next = draftRange(range, draft);
    setError(next instanceof Error ? next : null);
    if (next instanceof Error) return false;
    setRange(next);
    return true;
  };
  return { range, setRange, draft, setDraft, error, commit };
}

function RangeError({ r }) {
  return <ErrorNote error={r.error} prefix="Not applied" />;
}

/** The bridge has no usable PostgreSQL (503), or the history API wants a token (401): say so. */
export function HistoryUnavailable({ error }) {
  if (error.status === 401) {
    return (
      <div class="notice history-unavailable" role="alert">
        <h2>The history API needs a bearer token</h2>
        <p>
          <code>history.api_tokens</code> is set on the bridge, and this page cannot send a token. Unset it to let the
          bridge's own authentication (the read role) guard the history, or use <code>pipeline history</code>.
        </p>
        <p class="muted">The API answered: {error.message}</p>
      </div>
    );
  }
  return (
    <div class="notice history-unavailable" role="alert" data-testid="history-unavailable">
      <h2>History is not available</h2>
      <p>
        The alert history lives in PostgreSQL, and the bridge cannot read it: <strong>{error.message}</strong>
      </p>
      <p>
        To keep history, point <code>history.dsn</code> (and <code>history.password</code>) at a PostgreSQL server, run{' '}
        <code>pipeline db migrate</code>, and run the history stage; see <code>docs/history.md</code>. The alerts and silences
        pages work without it.
      </p>
    </div>
  );
}

function Problem({ error, what, data }) {
  if (!error) return null;
  if (unavailable(error)) return <HistoryUnavailable error={error} />;
  if (error.status === 400) return <ErrorNote error={error} prefix="The API refused the query" />;
  return <ErrorNote error={error} prefix={data ? 'Live update failed' : `Could not load ${what}`} />;
}

/** usePolling of one query whose parameters `key` names: an answer for other parameters stays shown
 * while the new one loads (no flicker), never next to the error of the new parameters. */
function useQuery(load, key, interval) {
  const [state] = usePolling(async (signal) => ({ key, answer: await load(signal) }), [key], interval);
  const current = state.data !== null && state.data.key === key;
  return { ...state, current, data: state.data && (current || !state.error) ? state.data.answer : null };
}

/** Keyset pages of the answer for `key`: the cursor of the page shown and those before it. A new
 * key starts again at the newest page (in the same render: no request with a stale cursor). */
function usePager(key) {
  const [pager, setPager] = useState({ key, stack: [], cursor: null });
  const current = pager.key === key ? pager : { key, stack: [], cursor: null };
  return {
    cursor: current.cursor,
    page: current.stack.length + 1,
    hasNewer: current.stack.length > 0,
    older: (next) => setPager({ key, stack: [...current.stack, current.cursor], cursor: next }),
    newer: () => setPager({ key, stack: current.stack.slice(0, -1), cursor: current.stack[current.stack.length - 1] }),
  };
}

function Pager({ pager, next, testid }) {
  if (!pager.hasNewer && !next) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={!pager.hasNewer} onClick={pager.newer}>
        ← Newer
      </button>
      <span class="muted" data-testid={testid}>
        page {pager.page}
      </span>
      <button type="button" disabled={!next} onClick={() => pager.older(next)}>
        Older →
      </button>
    </nav>
  );
}

function Labels({ labels, skip = [], onPick }) {
  return (
    <span class="alert-labels">
      {Object.keys(labels)
        .filter((n) => !skip.includes(n))
        .sort()
        .map((name) => (
          <LabelChip key={name} name={name} value={labels[name]} onPick={onPick} />
        ))}
    </span>
  );
}

function Badge({ kind, text }) {
  return <span class={`badge badge-h-${kind}`}>{text ?? kind}</span>;
}

function Updated({ state }) {
  if (!state.updatedAt) return null;
  return (
    <span class="muted tab-note">
      updated {formatClock(state.updatedAt)}
      {state.loading ? ' · loading…' : ''}
    </span>
  );
}

function FilterField({ label, draft, setDraft, applied, help, placeholder }) {
  return (
    <div class="field grow">
      <label for="filter">{label}</label>
      <div class="inline">
        <input
          id="filter"
          type="search"
          value={draft}
          autocomplete="off"
          spellcheck={false}
          placeholder={placeholder || 'alertname="DiskFull", team="db"'}
          aria-describedby="filter-help"
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(event) => {
            if (event.key === 'Escape') {
              event.preventDefault();
              setDraft(applied);
              event.currentTarget.blur();
            }
          }}
        />
        <button type="submit">Apply</button>
      </div>
      <small id="filter-help" class="muted">
        {help}
      </small>
    </div>
  );
}

// -- the page --------------------------------------------------------------------------------------------

export function HistoryPage({ query }) {
  const [view, setView] = useState(VIEWS.some((v) => v.id === query.get('view')) ? query.get('view') : 'search');
  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">History</h1>
        <p class="summary muted">What fired, changed and was notified, from the history kept in PostgreSQL.</p>
      </div>
      <div class="tabs" role="tablist" aria-label="History views">
        {VIEWS.map((v) => (
          <button
            key={v.id}
            type="button"
            role="tab"
            id={`tab-${v.id}`}
            aria-selected={view === v.id}
            class={view === v.id ? 'tab selected' : 'tab'}
            onClick={() => {
              replaceQuery({ view: v.id === 'search' ? null : v.id });
              setView(v.id);
            }}
          >
            {v.title}
          </button>
        ))}
      </div>
      <div role="tabpanel" aria-labelledby={`tab-${view}`}>
        {view === 'search' && <SearchView query={query} />}
        {view === 'top' && <TopView query={query} />}
        {view === 'flapping' && <FlappingView query={query} />}
        {view === 'receivers' && <ReceiversView query={query} />}
      </div>
    </section>
  );
}

// -- search and the chart -------------------------------------------------------------------------------

function SearchView({ query }) {
  const refresh = useRefresh();
  const [filter, setFilter] = useState(query.get('q') ?? '');
  const [draft, setDraft] = useState(filter);
  const r = useRange(query);
  const { range } = r;
  const [change, setChange] = useState(CHANGES.includes(query.get('change')) ? query.get('change') : '');
  useEffect(() => replaceQuery({ q: filter, change, ...rangeQuery(range) }), [filter, change, range]);

  const key = JSON.stringify([filter, change, range]);
  const pager = usePager(key);
  const cursor = pager.cursor;

  const state = useQuery(
    (signal) =>
      api.get('/api/history/alerts', { filter: splitMatchers(filter), change, limit: PAGE, cursor, ...rangeParams(range) }, signal),
    `${key}\u0000${cursor}`,
    cursor ? 0 : refresh, // an older page stays as it was read; the newest one follows new changes
  );
  const chartable = equalityOnly(filter);
  const chart = useQuery(
    (signal) => (chartable ? api.get('/api/history/firings', { filter: splitMatchers(filter), ...rangeParams(range) }, signal) : Promise.resolve(null)),
    key,
    refresh,
  );

  const apply = (event) => {
    event.preventDefault();
    if (r.commit()) setFilter(draft.trim());
  };
  const pick = (name, value) => {
    const text = [...splitMatchers(filter).map((t) => t.trim()), matcherText(name, value)].filter((t, i, all) => all.indexOf(t) === i).join(', ');
    setDraft(text);
    setFilter(text);
  };

  const blocked = unavailable(state.error) ? state.error : unavailable(chart.error) ? chart.error : null;
  const page = state.data;
  return (
    <>
      <form class="filterbar" role="search" aria-label="Search the history" onSubmit={apply}>
        <FilterField
          label="Filter (matchers)"
          draft={draft}
          setDraft={setDraft}
          applied={filter}
          help="Alertmanager matchers over the labels an alert had at each change (Enter applies, Esc reverts)."
        />
        <RangeFields r={r} />
        <div class="field">
          <label for="history-change">Change</label>
          <select id="history-change" value={change} onChange={(e) => setChange(e.currentTarget.value)}>
            <option value="">any</option>
            {CHANGES.map((c) => (
              <option key={c} value={c}>
                {c === 'new' ? 'new (fired)' : c}
              </option>
            ))}
          </select>
        </div>
      </form>
      <RangeError r={r} />
      {blocked ? (
        <HistoryUnavailable error={blocked} />
      ) : (
        <>
          {!chartable && <p class="notice chart-note">The chart counts firings by equality matchers only (=, !=); this filter has a regex matcher, so only the list below applies it.</p>}
          {chart.error && chart.error.status === 400 && <ErrorNote error={chart.error} prefix="The chart's query was refused" />}
          {chart.data && <FiringsChart series={chart.data} />}
          <div class="list-head">
            <h2>Changes</h2>
            <Updated state={state} />
          </div>
          <Problem error={state.error} what="the history" data={page} />
          {!page && !state.error && <Loading what="history" />}
          {page && page.items.length === 0 && (
            <p class="empty">{page.next_cursor ? 'No matches in the rows read for this page: continue with older ones.' : 'No changes match in this range.'}</p>
          )}
          {page && page.items.length > 0 && <ChangeTable items={page.items} onPick={pick} />}
          {page && <Pager pager={pager} next={page.next_cursor} testid="history-page" />}
        </>
      )}
    </>
  );
}

function ChangeTable({ items, onPick }) {
  return (
    <div class="table-wrap">
      <table class="history-table" aria-label="Alert changes, newest first">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Change</th>
            <th scope="col">Alert</th>
            <th scope="col">State</th>
            <th scope="col">Receivers</th>
            <th scope="col">
              <span class="sr-only">Timeline</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <tr key={c.id} data-fingerprint={c.fingerprint} data-change={c.change}>
              <td class="nowrap">
                <RelTime date={new Date(c.at)} now={Date.now()} />
                <div class="muted small-text">{formatTime(new Date(c.at))}</div>
              </td>
              <td>
                <Badge kind={c.change} />
                {c.transition && <span class="muted small-text"> → {c.status}</span>}
              </td>
              <td class="labels-cell">
                <strong>{c.labels.alertname ?? c.fingerprint}</strong> <Labels labels={c.labels} skip={['alertname']} onPick={onPick} />
                {c.annotations?.summary && <div class="muted small-text">{c.annotations.summary}</div>}
              </td>
              <td>
                {c.state}
                {c.silenced_by?.length > 0 && <div class="muted small-text">silenced by {c.silenced_by.join(', ')}</div>}
                {c.inhibited_by?.length > 0 && <div class="muted small-text">inhibited by {c.inhibited_by.join(', ')}</div>}
              </td>
              <td>{(c.receivers || []).join(', ')}</td>
              <td>
                <Link to={`/history/alerts/${c.fingerprint}`}>Timeline</Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// -- top alerts ------------------------------------------------------------------------------------------

const BY_CHOICES = ['alertname', 'team', ''];

function TopView({ query }) {
  const refresh = useRefresh();
  const initialBy = query.get('by') ?? 'alertname';
  const [by, setBy] = useState(initialBy);
  const [byDraft, setByDraft] = useState(initialBy);
  const [filter, setFilter] = useState(query.get('q') ?? '');
  const [draft, setDraft] = useState(filter);
  const r = useRange(query);
  const { range } = r;
  useEffect(() => replaceQuery({ view: 'top', by, q: filter, ...rangeQuery(range) }), [by, filter, range]);

  const state = useQuery(
    (signal) => api.get('/api/history/top', { by: by || undefined, filter: splitMatchers(filter), limit: 20, ...rangeParams(range) }, signal),
    JSON.stringify([by, filter, range]),
    refresh,
  );
  const data = state.data;
  // The label of the answer shown (while another loads, the table keeps its own columns).
  const shown = data ? data.by || '' : by;
  const max = data ? Math.max(1, ...data.items.map((i) => i.firings)) : 1;
  const searchFor = (item) => {
    const params = new URLSearchParams();
    const q = shown ? [...splitMatchers(filter).map((t) => t.trim()), matcherText(shown, item.value)].join(', ') : '';
    if (q) params.set('q', q);
    params.set('change', 'new');
    for (const [k, v] of Object.entries(rangeQuery(range))) if (v) params.set(k, v);
    return `/history?${params}`;
  };
  if (unavailable(state.error)) return <HistoryUnavailable error={state.error} />;
  return (
    <>
      <form
        class="filterbar"
        role="search"
        aria-label="Top alerts"
        onSubmit={(event) => {
          event.preventDefault();
          if (!r.commit()) return;
          setFilter(draft.trim());
          setBy(byDraft.trim());
        }}
      >
        <div class="field">
          <label for="top-by">Count by label</label>
          <input id="top-by" list="top-by-choices" value={byDraft} autocomplete="off" spellcheck={false} placeholder="(per alert)" onInput={(e) => setByDraft(e.currentTarget.value)} />
          <datalist id="top-by-choices">
            {BY_CHOICES.filter(Boolean).map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </div>
        <FilterField label="Filter (equality matchers)" draft={draft} setDraft={setDraft} applied={filter} help="= and != only (the counts come from SQL). Empty label: per alert." />
        <RangeFields r={r} />
      </form>
      <RangeError r={r} />
      <div class="list-head">
        <h2>{shown ? `Most firings by ${shown}` : 'Alerts that fired most'}</h2>
        <Updated state={state} />
      </div>
      <Problem error={state.error} what="top alerts" data={data} />
      {!data && !state.error && <Loading what="top alerts" />}
      {data && data.items.length === 0 && <p class="empty">Nothing fired in this range.</p>}
      {data && data.items.length > 0 && (
        <div class="table-wrap">
          <table class="history-table" aria-label={shown ? `Firings by ${shown}` : 'Firings per alert'} data-testid="top-table">
            <thead>
              <tr>
                <th scope="col">{shown || 'Alert'}</th>
                <th scope="col">Firings</th>
                {shown && <th scope="col">Alerts</th>}
                <th scope="col">Last fired</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((item) => (
                <tr key={shown ? item.value : item.fingerprint}>
                  <td class="labels-cell">
                    {shown ? (
                      <Link to={searchFor(item)} title="Search these firings">
                        {item.value === '' ? <em>(no {shown} label)</em> : item.value}
                      </Link>
                    ) : (
                      <>
                        <Link to={`/history/alerts/${item.fingerprint}`}>{item.labels.alertname ?? item.fingerprint}</Link>{' '}
                        <Labels labels={item.labels} skip={['alertname']} />
                      </>
                    )}
                  </td>
                  <td class="bar-cell">
                    <span class="bar-number">{item.firings}</span>
                    <svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                      <rect x="0" y="0" height="10" width={(item.firings / max) * 100} />
                    </svg>
                  </td>
                  {shown && <td>{item.alerts}</td>}
                  <td class="nowrap">{item.last_fired_at && <RelTime date={new Date(item.last_fired_at)} now={Date.now()} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

// -- flapping ----------------------------------------------------------------------------------------------

function FlappingView({ query }) {
  const refresh = useRefresh();
  const [params, setParams] = useState({ threshold: query.get('threshold') ?? '', window: query.get('window') ?? '', filter: query.get('q') ?? '' });
  const [draft, setDraft] = useState(params);
  useEffect(() => replaceQuery({ view: 'flapping', threshold: params.threshold, window: params.window, q: params.filter }), [params]);
  const state = useQuery(
    (signal) =>
      api.get('/api/history/flapping', { threshold: params.threshold, window: params.window, filter: splitMatchers(params.filter) }, signal),
    JSON.stringify(params),
    refresh,
  );
  const data = state.data;
  if (unavailable(state.error)) return <HistoryUnavailable error={state.error} />;
  return (
    <>
      <form
        class="filterbar"
        role="search"
        aria-label="Flapping alerts"
        onSubmit={(event) => {
          event.preventDefault();
          setParams({ threshold: draft.threshold.trim(), window: draft.window.trim(), filter: draft.filter.trim() });
        }}
      >
        <div class="field">
          <label for="flap-threshold">More transitions than</label>
          <input id="flap-threshold" type="number" min="1" max="63" value={draft.threshold} placeholder={data ? String(data.threshold) : ''} onInput={(e) => setDraft({ ...draft, threshold: e.currentTarget.value })} />
        </div>
        <div class="field">
          <label for="flap-window">Within</label>
          <input id="flap-window" value={draft.window} autocomplete="off" placeholder={data ? windowText(data.window) : '30m'} onInput={(e) => setDraft({ ...draft, window: e.currentTarget.value })} />
        </div>
        <FilterField
          label="Filter (equality matchers)"
          draft={draft.filter}
          setDraft={(filter) => setDraft({ ...draft, filter })}
          applied={params.filter}
          help="An alert is flapping with more than that many firing ↔ resolved changes in the window before now (the flapping stage marks the same)."
        />
      </form>
      <div class="list-head">
        <h2>{data ? `Flapping now: more than ${data.threshold} transitions in ${windowText(data.window)}` : 'Flapping now'}</h2>
        <Updated state={state} />
      </div>
      <Problem error={state.error} what="flapping alerts" data={data} />
      {!data && !state.error && <Loading what="flapping alerts" />}
      {data && data.items.length === 0 && <p class="empty">No alert is flapping.</p>}
      {data && data.items.length > 0 && (
        <div class="table-wrap">
          <table class="history-table" aria-label="Flapping alerts" data-testid="flapping-table">
            <thead>
              <tr>
                <th scope="col">Alert</th>
                <th scope="col">Transitions</th>
                <th scope="col">Now</th>
                <th scope="col">Last transition</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((item) => (
                <tr key={item.fingerprint} data-fingerprint={item.fingerprint}>
                  <td class="labels-cell">
                    <Link to={`/history/alerts/${item.fingerprint}`}>{item.labels.alertname ?? item.fingerprint}</Link> <Labels labels={item.labels} skip={['alertname']} />
                  </td>
                  <td>{item.changes}</td>
                  <td>
                    <Badge kind={item.status} />
                  </td>
                  <td class="nowrap">
                    <RelTime date={new Date(item.last_transition_at)} now={Date.now()} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

// -- receivers -------------------------------------------------------------------------------------------

function ReceiversView({ query }) {
  const refresh = useRefresh();
  const r = useRange(query);
  const { range } = r;
  useEffect(() => replaceQuery({ view: 'receivers', ...rangeQuery(range) }), [range]);
  const state = useQuery((signal) => api.get('/api/history/receivers', rangeParams(range), signal), JSON.stringify(range), refresh);
  const data = state.data;
  if (unavailable(state.error)) return <HistoryUnavailable error={state.error} />;
  const rangeLink = new URLSearchParams(Object.entries(rangeQuery(range)).filter(([, v]) => v)).toString();
  return (
    <>
      <form
        class="filterbar"
        aria-label="Receivers"
        onSubmit={(event) => {
          event.preventDefault();
          r.commit();
        }}
      >
        <RangeFields r={r} />
        {range.preset === CUSTOM && <button type="submit">Apply</button>}
      </form>
      <RangeError r={r} />
      <div class="list-head">
        <h2>Notifications and deliveries per receiver</h2>
        <Updated state={state} />
      </div>
      <Problem error={state.error} what="receivers" data={data} />
      {!data && !state.error && <Loading what="receivers" />}
      {data && data.items.length === 0 && <p class="empty">No notification was sent in this range.</p>}
      {data && data.items.length > 0 && (
        <div class="table-wrap">
          <table class="history-table" aria-label="Receivers" data-testid="receivers-table">
            <thead>
              <tr>
                <th scope="col">Receiver</th>
                <th scope="col">Notifications</th>
                {OUTCOMES.map((o) => (
                  <th scope="col" key={o}>
                    {o.replace('_', ' ')}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.items.map((item) => (
                <tr key={item.receiver} data-receiver={item.receiver}>
                  <td>
                    <Link to={`/history/receivers/${encodeURIComponent(item.receiver)}${rangeLink ? `?${rangeLink}` : ''}`}>{item.receiver}</Link>
                  </td>
                  <td>{item.notifications}</td>
                  {OUTCOMES.map((o) => (
                    <td key={o} class={item.outcomes[o] && o !== 'delivered' && o !== 'duplicate_skipped' ? 'outcome-bad' : undefined}>
                      {item.outcomes[o] ?? 0}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function Outcomes({ outcomes }) {
  if (!outcomes.length) return <span class="muted">no delivery outcome yet</span>;
  return (
    <ol class="outcomes">
      {outcomes.map((o, i) => (
        <li key={i}>
          <Badge kind={o.outcome} text={o.outcome.replace('_', ' ')} /> <span class="muted small-text">attempt {o.attempt} · {formatTime(new Date(o.at))}</span>
          {o.status_code ? <span class="muted small-text"> · HTTP {o.status_code}</span> : null}
          {o.error && <div class="outcome-error">{o.error}</div>}
        </li>
      ))}
    </ol>
  );
}

/** /history/receivers/<name>: its notifications, newest first, each with every delivery attempt. */
export function ReceiverPage({ receiver, query }) {
  const refresh = useRefresh();
  const r = useRange(query);
  const { range } = r;
  const [outcome, setOutcome] = useState(OUTCOMES.includes(query.get('outcome')) ? query.get('outcome') : '');
  const key = JSON.stringify([range, outcome]);
  useEffect(() => replaceQuery({ outcome, ...rangeQuery(range) }), [key]);
  const pager = usePager(key);
  const cursor = pager.cursor;
  const state = useQuery(
    (signal) => api.get(`/api/history/receivers/${encodeURIComponent(receiver)}/notifications`, { outcome, limit: PAGE, cursor, ...rangeParams(range) }, signal),
    `${receiver}\u0000${key}\u0000${cursor}`,
    cursor ? 0 : refresh,
  );
  const data = state.data;
  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">
          Receiver <code>{receiver}</code>
        </h1>
        <Link to="/history?view=receivers">All receivers</Link>
      </div>
      <form
        class="filterbar"
        aria-label="Notifications"
        onSubmit={(event) => {
          event.preventDefault();
          r.commit();
        }}
      >
        <RangeFields r={r} />
        <div class="field">
          <label for="receiver-outcome">Latest outcome</label>
          <select id="receiver-outcome" value={outcome} onChange={(e) => setOutcome(e.currentTarget.value)}>
            <option value="">any</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o.replace('_', ' ')}
              </option>
            ))}
          </select>
        </div>
        {range.preset === CUSTOM && <button type="submit">Apply</button>}
      </form>
      <RangeError r={r} />
      {unavailable(state.error) ? (
        <HistoryUnavailable error={state.error} />
      ) : (
        <>
          <div class="list-head">
            <h2>Notifications, newest first</h2>
            <Updated state={state} />
          </div>
          <Problem error={state.error} what="notifications" data={data} />
          {!data && !state.error && <Loading what="notifications" />}
          {data && data.items.length === 0 && <p class="empty">No notifications{outcome ? ` whose latest outcome is ${outcome.replace('_', ' ')}` : ''} in this range.</p>}
          {data && data.items.length > 0 && (
            <ul class="notification-list" aria-label="Notifications">
              {data.items.map((n) => (
                <li key={n.id} class="notification-card" data-notification-id={n.id}>
                  <div class="alert-main">
                    <Badge kind={n.status} />
                    <span class="alert-labels">
                      {Object.keys(n.group_labels || {})
                        .sort()
                        .map((k) => (
                          <LabelChip key={k} name={k} value={n.group_labels[k]} />
                        ))}
                    </span>
                    <span class="muted small-text">
                      {formatTime(new Date(n.created_at))} · {n.alert_count} alert{n.alert_count === 1 ? '' : 's'}
                      {n.integration ? ` · ${n.integration}` : ''}
                    </span>
                  </div>
                  <Outcomes outcomes={n.outcomes} />
                  {n.fingerprints?.length > 0 && (
                    <p class="small-text">
                      Alerts:{' '}
                      {n.fingerprints.slice(0, 10).map((fp, i) => (
                        <span key={fp}>
                          {i > 0 && ', '}
                          <Link to={`/history/alerts/${fp}`}>{fp}</Link>
                        </span>
                      ))}
                      {n.fingerprints.length > 10 && ` and ${n.fingerprints.length - 10} more`}
                    </p>
                  )}
                </li>
              ))}
            </ul>
          )}
          {data && <Pager pager={pager} next={data.next_cursor} testid="receiver-page" />}
        </>
      )}
    </section>
  );
}

// -- an alert's timeline ------------------------------------------------------------------------------------

/** /history/alerts/<fingerprint>: its changes and notifications merged in time order, pages appended. */
export function TimelinePage({ fingerprint }) {
  const refresh = useRefresh();
  const [pages, setPages] = useState([]); // earlier pages, kept as read
  const [cursor, setCursor] = useState(null);
  const state = useQuery(
    (signal) => api.get(`/api/history/alerts/${encodeURIComponent(fingerprint)}/timeline`, { limit: 200, cursor }, signal),
    `${fingerprint}\u0000${cursor}`,
    cursor ? 0 : refresh,
  );
  const data = state.current ? state.data : null; // never the page before, which `pages` holds
  const all = useMemo(() => {
    const shown = data ? [...pages, data] : pages;
    const changes = [];
    const notes = new Map();
    for (const p of shown) {
      changes.push(...p.changes);
      for (const n of p.notifications) notes.set(n.id, n);
    }
    return { changes, notifications: [...notes.values()] };
  }, [pages, data]);
  const events = useMemo(() => {
    const out = [
      ...all.changes.map((c) => ({ kind: 'change', at: new Date(c.at).getTime(), key: `c${c.id}`, c })),
      ...all.notifications.map((n) => ({ kind: 'notification', at: new Date(n.created_at).getTime(), key: `n${n.id}`, n })),
    ];
    return out.sort((a, b) => a.at - b.at || (a.kind === b.kind ? 0 : a.kind === 'change' ? -1 : 1));
  }, [all]);
  const latest = all.changes[all.changes.length - 1];
  const now = Date.now();
  const start = events.length ? events[0].at : now;
  const end = data && data.next_cursor ? events[events.length - 1].at : Math.max(now, events.length ? events[events.length - 1].at : now);

  if (state.error && state.error.status === 404) {
    return (
      <section aria-labelledby="page-title">
        <h1 id="page-title">Alert timeline</h1>
        <p class="empty" role="status">
          No history of alert <code>{fingerprint}</code> yet: the history stage records an alert's changes as they reach
          alerts.enriched (within the retention, {''}
          <code>history.retention_days</code>).
        </p>
        <p>
          <Link to="/history">Search the history</Link>
        </p>
      </section>
    );
  }
  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">Alert timeline</h1>
        {latest && (
          <p class="summary">
            <strong>{latest.labels.alertname ?? fingerprint}</strong> <Badge kind={latest.status} />{' '}
            <span class="muted">
              {all.changes.length} change{all.changes.length === 1 ? '' : 's'} · {all.notifications.length} notification
              {all.notifications.length === 1 ? '' : 's'}
            </span>
          </p>
        )}
        <Updated state={state} />
      </div>
      {unavailable(state.error) ? (
        <HistoryUnavailable error={state.error} />
      ) : (
        <>
          <Problem error={state.error} what="the timeline" data={data} />
          {!data && !state.error && <Loading what="the timeline" />}
          {latest && (
            <div class="timeline-head">
              <Labels labels={latest.labels} />
              <p class="muted small-text">
                fingerprint <code>{fingerprint}</code> ·{' '}
                <Link to={`/history?q=${encodeURIComponent(Object.keys(latest.labels).sort().map((k) => matcherText(k, latest.labels[k])).join(', '))}&range=30d`}>
                  search its changes
                </Link>{' '}
                · <Link to={`/alerts?q=${encodeURIComponent(Object.keys(latest.labels).sort().map((k) => matcherText(k, latest.labels[k])).join(', '))}`}>see it among the alerts</Link>
              </p>
            </div>
          )}
          {events.length > 0 && (
            <TimelineStrip
              start={start}
              end={Math.max(end, start + 60e3)}
              spans={firingSpans(all.changes, end)}
              marks={all.notifications.map((n) => ({ at: new Date(n.created_at).getTime(), outcome: n.outcome }))}
            />
          )}
          {events.length > 0 && (
            <ol class="timeline" aria-label="Changes and notifications, oldest first">
              {events.map((e) => (e.kind === 'change' ? <ChangeEvent key={e.key} c={e.c} /> : <NotificationEvent key={e.key} n={e.n} />))}
            </ol>
          )}
          {data && data.next_cursor && (
            <nav class="pager" aria-label="More">
              <button
                type="button"
                onClick={() => {
                  setPages([...pages, data]);
                  setCursor(data.next_cursor);
                }}
              >
                Later changes →
              </button>
            </nav>
          )}
        </>
      )}
    </section>
  );
}

function ChangeEvent({ c }) {
  return (
    <li class={`timeline-item change-${c.change}`} data-change={c.change}>
      <time dateTime={c.at} class="timeline-time">
        {formatTime(new Date(c.at))}
      </time>
      <div>
        <Badge kind={c.change} /> <span class="muted small-text">{c.transition ? `now ${c.status}` : c.status}</span>
        <span class="muted small-text"> · {c.state}</span>
        {c.priority && <span class="muted small-text"> · {c.priority}</span>}
        {c.receivers?.length > 0 && <span class="muted small-text"> · to {c.receivers.join(', ')}</span>}
        {c.silenced_by?.length > 0 && (
          <div class="small-text">
            silenced by{' '}
            {c.silenced_by.map((id, i) => (
              <span key={id}>
                {i > 0 && ', '}
                <Link to={`/silences?q=${encodeURIComponent(id)}`}>{id}</Link>
              </span>
            ))}
          </div>
        )}
        {c.inhibited_by?.length > 0 && <div class="small-text">inhibited by {c.inhibited_by.join(', ')}</div>}
        {c.annotations?.summary && <div class="small-text">{c.annotations.summary}</div>}
      </div>
    </li>
  );
}

function NotificationEvent({ n }) {
  return (
    <li class="timeline-item notification" data-notification-id={n.id}>
      <time dateTime={n.created_at} class="timeline-time">
        {formatTime(new Date(n.created_at))}
      </time>
      <div>
        <span class="badge badge-h-notification">notified</span>{' '}
        <Link to={`/history/receivers/${encodeURIComponent(n.receiver)}`}>{n.receiver}</Link>
        <span class="muted small-text">
          {' '}
          · {n.status} · {n.alert_count} alert{n.alert_count === 1 ? '' : 's'} in the group
        </span>
        <Outcomes outcomes={n.outcomes} />
      </div>
    </li>
  );
}
