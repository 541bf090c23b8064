// Alerts, grouped like Karma: by the route tree's aggregation groups (receiver and group_by labels,
// from GET /api/v2/alerts/groups) or by any label the user picks (GET /api/v2/alerts, grouped here).
// The filter is Alertmanager matcher syntax, handed to the API's own `filter` parameter, one value
// per matcher, so the API's parser decides and its message is shown. Filters live in the URL.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, optional } from '../api.js';
import { ErrorNote, LabelChip, Loading, RelTime, StateBadge, safeHref } from '../components.jsx';
import { can, ROLE_SILENCE, useMe } from '../me.jsx';
import { formatMatcher, labelMatchers, quoteValue, splitMatchers } from '../matchers.js';
import { usePolling } from '../poll.js';
import { Link, navigate, replaceQuery } from '../router.jsx';
import { useRefresh } from '../settings.jsx';
import { formatClock, relative } from '../time.js';
import { VirtualList } from '../virtual.jsx';

const ROUTE = '';

function groupKey(receiver, labels) {
  return `${receiver}\u0000${Object.keys(labels).sort().map((k) => `${k}\u0001${labels[k]}`).join('\u0000')}`;
}

function routeGroups(groups) {
  return groups.map((group) => ({
    key: groupKey(group.receiver.name, group.labels),
    labels: group.labels,
    receiver: group.receiver.name,
    alerts: group.alerts,
  }));
}

/** Alerts grouped by the values of `names`; alerts without one of them are grouped by what they have
 * (after the complete groups). Values sort by code point: cheap for 10,000 groups, and stable. */
function labelGroups(alerts, names) {
  const groups = new Map();
  for (const alert of alerts) {
    const labels = {};
    for (const name of names) if (name in alert.labels) labels[name] = alert.labels[name];
    const key = groupKey('', labels);
    let group = groups.get(key);
    if (!group) {
      const values = names.map((name) => labels[name] ?? '');
      const missing = names.length - Object.keys(labels).length;
      groups.set(key, (group = { key, labels, receiver: null, alerts: [], order: [missing, ...values] }));
    }
    group.alerts.push(alert);
  }
  const compare = (a, b) => {
    for (let i = 0; i < a.order.length; i++) {
      if (a.order[i] !== b.order[i]) return a.order[i] < b.order[i] ? -1 : 1;
    }
    return 0;
  };
  return [...groups.values()].sort(compare);
}

function summarize(groups) {
  const seen = new Map();
  for (const group of groups) for (const alert of group.alerts) seen.set(alert.fingerprint, alert);
  let silenced = 0;
  let inhibited = 0;
  for (const alert of seen.values()) {
    if (alert.status.silencedBy.length) silenced += 1;
    if (alert.status.inhibitedBy.length) inhibited += 1;
  }
  return { alerts: seen.size, groups: groups.length, silenced, inhibited, byFingerprint: seen };
}

function labelNames(byFingerprint) {
  const names = new Set();
  for (const alert of byFingerprint.values()) for (const name in alert.labels) names.add(name);
  return [...names].sort();
}

function silenceLink(matchers) {
  const query = new URLSearchParams();
  for (const m of matchers) query.append('matcher', formatMatcher(m));
  return `/silences/new?${query}`;
}

function readQuery(query) {
  return {
    filter: query.get('q') ?? '',
    groupBy: query.get('group') ?? ROUTE,
    silenced: query.get('silenced') !== '0',
    inhibited: query.get('inhibited') !== '0',
    receiver: query.get('receiver') ?? '',
  };
}

export function AlertsPage({ query }) {
  const me = useMe();
  const refresh = useRefresh();
  const initial = useMemo(() => readQuery(query), []);
  const [filter, setFilter] = useState(initial.filter);
  const [draft, setDraft] = useState(initial.filter);
  const [receiver, setReceiver] = useState(initial.receiver);
  const [receiverDraft, setReceiverDraft] = useState(initial.receiver);
  const [groupBy, setGroupBy] = useState(initial.groupBy);
  const [silenced, setSilenced] = useState(initial.silenced);
  const [inhibited, setInhibited] = useState(initial.inhibited);
  const [collapsed, setCollapsed] = useState(() => new Set());
  const pendingFilter = useRef(null);
  const firstRender = useRef(false);

  useEffect(() => {
    replaceQuery({ q: filter, group: groupBy, silenced: silenced ? null : '0', inhibited: inhibited ? null : '0', receiver });
  }, [filter, groupBy, silenced, inhibited, receiver]);

  const requestKey = JSON.stringify([filter, groupBy, silenced, inhibited, receiver]);
  const [state, reload] = usePolling(
    async (signal) => {
      const params = { filter: splitMatchers(filter), silenced, inhibited, receiver };
      const labels = groupBy.split(',').map((s) => s.trim()).filter(Boolean);
      const [payload, silences] = await Promise.all([
        api.get(labels.length ? '/api/v2/alerts' : '/api/v2/alerts/groups', params, signal),
        optional(api.get('/api/v2/silences', {}, signal), []), // without it only the silences' details are missing
      ]);
      const groups = labels.length ? labelGroups(payload, labels) : routeGroups(payload);
      return { key: requestKey, groups, silences: new Map(silences.map((s) => [s.id, s])), summary: summarize(groups) };
    },
    [requestKey],
    refresh,
  );

  // Marks for the benchmark (bench/ui): the first rendered answer, and each applied filter.
  const data = state.data;
  useEffect(() => {
    if (!data) return;
    if (!firstRender.current) {
      firstRender.current = true;
      performance.mark('ui:alerts:first-render', { detail: { alerts: data.summary.alerts } });
    }
    if (pendingFilter.current !== null && pendingFilter.current === data.key) {
      pendingFilter.current = null;
      performance.mark('ui:alerts:filter-rendered', { detail: { alerts: data.summary.alerts } });
      try {
        performance.measure('ui:alerts:filter', 'ui:alerts:filter-start', 'ui:alerts:filter-rendered');
      } catch {
        /* marks cleared by the page: nothing to measure */
      }
    }
  }, [data]);

  const apply = (next = {}) => {
    const values = { filter, groupBy, silenced, inhibited, receiver, ...next };
    const key = JSON.stringify([values.filter, values.groupBy, values.silenced, values.inhibited, values.receiver]);
    if (key === requestKey) {
      reload();
      return;
    }
    performance.clearMarks('ui:alerts:filter-start');
    performance.mark('ui:alerts:filter-start');
    pendingFilter.current = key;
    if ('filter' in next) setFilter(next.filter);
    if ('receiver' in next) setReceiver(next.receiver);
    if ('groupBy' in next) setGroupBy(next.groupBy);
    if ('silenced' in next) setSilenced(next.silenced);
    if ('inhibited' in next) setInhibited(next.inhibited);
  };

  const addToFilter = (name, value) => {
    const matcher = `${name}=${quoteValue(value)}`;
    const current = splitMatchers(filter).map((t) => t.trim());
    if (current.includes(matcher)) return;
    const text = [...current, matcher].join(', ');
    setDraft(text);
    apply({ filter: text });
  };

  const rows = useMemo(() => {
    if (!data) return [];
    const out = [];
    for (const group of data.groups) {
      out.push({ kind: 'group', key: `g${group.key}`, group });
      if (!collapsed.has(group.key)) for (const alert of group.alerts) out.push({ kind: 'alert', key: `a${group.key}\u0002${alert.fingerprint}`, alert, group });
    }
    return out;
  }, [data, collapsed]);

  const toggle = (key) => {
    const next = new Set(collapsed);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setCollapsed(next);
  };

  const names = useMemo(() => (data ? labelNames(data.summary.byFingerprint) : []), [data]);
  const pickable = groupBy && !names.includes(groupBy) ? [groupBy, ...names] : names;
  const canSilence = can(me, ROLE_SILENCE);
  const now = Date.now();
  // The answer shown is for the current filters (`current`), or an older one while the new one loads.
  const current = data !== null && data.key === requestKey;
  const refused = state.error && !current; // the current filters have no answer: say why, show nothing
  const stale = state.error && current; // a live update failed: keep what was shown, say so
  const shown = data !== null && !refused;

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">Alerts</h1>
        {data && (
          <p class="summary" aria-live="polite">
            <strong data-testid="alert-count">{data.summary.alerts.toLocaleString('en')} alerts</strong> in{' '}
            {data.summary.groups.toLocaleString('en')} groups · {data.summary.silenced.toLocaleString('en')} silenced ·{' '}
            {data.summary.inhibited.toLocaleString('en')} inhibited
            <span class="muted">
              {' '}
              · updated {state.updatedAt ? formatClock(state.updatedAt) : '—'}
              {state.loading ? ' · loading…' : ''}
            </span>
          </p>
        )}
      </div>
      <form
        class="filterbar"
        role="search"
        aria-label="Filter alerts"
        onSubmit={(event) => {
          event.preventDefault();
          apply({ filter: draft.trim(), receiver: receiverDraft.trim() });
        }}
      >
        <div class="field grow">
          <label for="filter">Filter (matchers)</label>
          <div class="inline">
            <input
              id="filter"
              type="search"
              value={draft}
              autocomplete="off"
              spellcheck={false}
              placeholder={'alertname="DiskFull", severity=~"critical|warning"'}
              aria-describedby="filter-help"
              onInput={(event) => setDraft(event.currentTarget.value)}
              onKeyDown={(event) => {
                if (event.key === 'Escape') {
                  event.preventDefault(); // a search field would clear itself
                  setDraft(filter);
                  event.currentTarget.blur();
                }
              }}
            />
            <button type="submit">Apply</button>
          </div>
          <small id="filter-help" class="muted">
            Alertmanager matchers, comma-separated (<kbd>/</kbd> focuses, <kbd>Enter</kbd> applies, <kbd>Esc</kbd> reverts).
          </small>
        </div>
        <div class="field">
          <label for="receiver">Receiver (regex)</label>
          <input id="receiver" type="search" value={receiverDraft} autocomplete="off" spellcheck={false} onInput={(e) => setReceiverDraft(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="group-by">Group by</label>
          <select id="group-by" value={groupBy} onChange={(event) => apply({ groupBy: event.currentTarget.value })}>
            <option value={ROUTE}>route (receiver, group_by)</option>
            {pickable.map((name) => (
              <option value={name} key={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <fieldset class="field toggles">
          <legend>Show</legend>
          <label>
            <input type="checkbox" checked={silenced} onChange={(e) => apply({ silenced: e.currentTarget.checked })} /> silenced
          </label>
          <label>
            <input type="checkbox" checked={inhibited} onChange={(e) => apply({ inhibited: e.currentTarget.checked })} /> inhibited
          </label>
        </fieldset>
      </form>
      {refused && <ErrorNote error={state.error} prefix={state.error.status === 400 ? 'The filter was refused' : 'Could not load alerts'} />}
      {stale && <ErrorNote error={state.error} prefix={`Live update failed (showing the answer of ${formatClock(state.updatedAt)})`} />}
      {!data && !state.error && <Loading what="alerts" />}
      {shown && current && data.groups.length === 0 && <p class="empty">No alerts match.</p>}
      {shown && data.groups.length > 0 && (
        <>
          <div class="list-tools">
            <button type="button" class="link-button" onClick={() => setCollapsed(new Set(data.groups.map((g) => g.key)))}>
              Collapse all
            </button>
            <button type="button" class="link-button" onClick={() => setCollapsed(new Set())}>
              Expand all
            </button>
          </div>
          <VirtualList
            className="alert-list"
            label="Alert groups"
            items={rows}
            getKey={(row) => row.key}
            estimateSize={(row) => (row.kind === 'group' ? 50 : 72)}
            renderItem={(row) =>
              row.kind === 'group' ? (
                <GroupHeader group={row.group} collapsed={collapsed.has(row.group.key)} onToggle={toggle} canSilence={canSilence} onPick={addToFilter} />
              ) : (
                <AlertRow
                  alert={row.alert}
                  group={row.group}
                  silences={data.silences}
                  byFingerprint={data.summary.byFingerprint}
                  now={now}
                  canSilence={canSilence}
                  onPick={addToFilter}
                />
              )
            }
          />
        </>
      )}
    </section>
  );
}

function GroupHeader({ group, collapsed, onToggle, canSilence, onPick }) {
  const names = Object.keys(group.labels).sort();
  let silenced = 0;
  let inhibited = 0;
  for (const alert of group.alerts) {
    if (alert.status.silencedBy.length) silenced += 1;
    if (alert.status.inhibitedBy.length) inhibited += 1;
  }
  const matchers = labelMatchers(group.labels);
  return (
    <div class="group-head">
      <button type="button" class="toggle" aria-expanded={!collapsed} aria-label={collapsed ? 'Expand group' : 'Collapse group'} onClick={() => onToggle(group.key)}>
        {collapsed ? '▸' : '▾'}
      </button>
      <span class="group-labels">
        {names.length ? names.map((name) => <LabelChip key={name} name={name} value={group.labels[name]} onPick={onPick} />) : <span class="muted">(all alerts of the route)</span>}
      </span>
      <span class="group-meta">
        {group.receiver !== null && <span class="receiver">→ {group.receiver}</span>}
        {/* elementtiming: the paint of alert data, for bench/ui (Element Timing needs a text node) */}
        <span elementtiming="alert-group">
          {group.alerts.length} alert{group.alerts.length === 1 ? '' : 's'}
          {silenced ? `, ${silenced} silenced` : ''}
          {inhibited ? `, ${inhibited} inhibited` : ''}
        </span>
      </span>
      {canSilence &&
        (matchers.length ? (
          <Link class="button small" to={silenceLink(matchers)} title="New silence with this group's labels">
            Silence group
          </Link>
        ) : (
          <button type="button" class="small" disabled title="This group has no labels to silence by">
            Silence group
          </button>
        ))}
    </div>
  );
}

const SUMMARY_KEYS = ['summary', 'description', 'message'];

function AlertRow({ alert, group, silences, byFingerprint, now, canSilence, onPick }) {
  const names = Object.keys(alert.labels).filter((n) => !(n in group.labels)).sort();
  const summaryKey = SUMMARY_KEYS.find((k) => alert.annotations[k]);
  const summary = summaryKey ? alert.annotations[summaryKey] : '';
  const links = [];
  const source = alert.generatorURL && safeHref(alert.generatorURL);
  if (source) links.push(['source', source]);
  for (const [key, value] of Object.entries(alert.annotations)) {
    const url = /^https?:\/\//.test(value) && safeHref(value);
    if (url) links.push([key, url]);
  }
  const others = Object.keys(alert.annotations).filter((k) => k !== summaryKey).sort();
  return (
    <article class={`alert-row state-${alert.status.state}`} data-fingerprint={alert.fingerprint} aria-label={`alert ${alert.labels.alertname ?? alert.fingerprint}`}>
      <div class="alert-body">
        <div class="alert-main">
          <StateBadge status={alert.status} />
          <span class="alert-labels">
            {names.map((name) => (
              <LabelChip key={name} name={name} value={alert.labels[name]} onPick={onPick} />
            ))}
          </span>
        </div>
        {summary && <p class="alert-summary">{summary}</p>}
        {(alert.status.silencedBy.length > 0 || alert.status.inhibitedBy.length > 0) && (
          <ul class="mutes">
            {alert.status.silencedBy.map((id) => {
              const silence = silences.get(id);
              return (
                <li key={id}>
                  <Link to={`/silences?q=${encodeURIComponent(id)}`} class="mute mute-silence" title={silence ? silence.comment : id}>
                    silenced by {silence ? `${silence.createdBy}: ${silence.comment}` : id}
                  </Link>
                  {silence && <span class="muted"> (ends {relative(new Date(silence.endsAt), now)})</span>}
                </li>
              );
            })}
            {alert.status.inhibitedBy.map((fingerprint) => {
              const by = byFingerprint.get(fingerprint);
              const text = by ? Object.entries(by.labels).map(([k, v]) => `${k}="${v}"`).join(', ') : fingerprint;
              return (
                <li key={fingerprint} class="mute mute-inhibit" title={text}>
                  inhibited by {by ? by.labels.alertname ?? fingerprint : fingerprint} <span class="muted">({text})</span>
                </li>
              );
            })}
          </ul>
        )}
        {others.length > 0 && (
          <details class="annotations">
            <summary>annotations</summary>
            <dl>
              {others.map((key) => (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd>{alert.annotations[key]}</dd>
                </div>
              ))}
            </dl>
          </details>
        )}
      </div>
      <div class="alert-side">
        <div class="alert-facts">
          <span class="alert-time">
            started <RelTime date={new Date(alert.startsAt)} now={now} />
          </span>
          {/* the group header names a route group's receiver; more receivers (continue) are listed */}
          {(group.receiver === null || alert.receivers.length > 1) && alert.receivers.length > 0 && (
            <span class="muted">→ {alert.receivers.map((r) => r.name).join(', ')}</span>
          )}
        </div>
        <div class="alert-actions">
          {links.map(([label, url]) => (
            <a key={label + url} href={url} target="_blank" rel="noopener noreferrer">
              {label}
            </a>
          ))}
          <Link to={`/history/alerts/${alert.fingerprint}`} title="This alert's timeline: its changes and the notifications that carried it">
            History
          </Link>
          {canSilence && (
            <Link class="button small" to={silenceLink(labelMatchers(alert.labels))} title="New silence matching exactly this alert's labels">
              Silence
            </Link>
          )}
        </div>
      </div>
    </article>
  );
}

export function goToFilteredAlerts(matchers) {
  navigate(`/alerts?q=${encodeURIComponent(matchers.map(formatMatcher).join(', '))}`);
}
