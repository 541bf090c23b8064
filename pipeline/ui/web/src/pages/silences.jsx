// Silences: GET /api/v2/silences (its `filter` matches a silence's own matchers exactly, as in
// Alertmanager), searched by text here, by state in tabs; expire is DELETE /api/v2/silence/{id}.
// How many alerts each silence mutes now comes from one GET /api/v2/alerts of suppressed alerts.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, optional } from '../api.js';
import { Dialog, ErrorNote, LabelChip, Loading, RelTime } from '../components.jsx';
import { can, ROLE_SILENCE, useMe } from '../me.jsx';
import { formatMatcher, formatMatchers, fromApi, splitMatchers } from '../matchers.js';
import { usePolling } from '../poll.js';
import { Link, navigate, replaceQuery } from '../router.jsx';
import { useRefresh } from '../settings.jsx';
import { formatClock, formatTime } from '../time.js';
import { VirtualList } from '../virtual.jsx';

const STATES = ['active', 'pending', 'expired'];

function searchable(silence) {
  return [silence.id, silence.createdBy, silence.comment, formatMatchers(silence.matchers.map(fromApi))].join('\n').toLowerCase();
}

export function SilencesPage({ query }) {
  const me = useMe();
  const refresh = useRefresh();
  const [tab, setTab] = useState(STATES.includes(query.get('state')) ? query.get('state') : 'active');
  const [text, setText] = useState(query.get('q') ?? '');
  const [matchers, setMatchers] = useState(query.get('matchers') ?? '');
  const [matchersDraft, setMatchersDraft] = useState(matchers);
  const [expiring, setExpiring] = useState(null);
  const [actionError, setActionError] = useState(null);

  useEffect(() => replaceQuery({ state: tab === 'active' ? null : tab, q: text, matchers }), [tab, text, matchers]);

  const [state, reload] = usePolling(
    async (signal) => {
      const [silences, suppressed] = await Promise.all([
        api.get('/api/v2/silences', { filter: splitMatchers(matchers) }, signal),
        // Only suppressed alerts can be silenced: a smaller answer than every alert.
        optional(api.get('/api/v2/alerts', { active: false, silenced: true, inhibited: true }, signal), null),
      ]);
      let muted = null;
      if (suppressed) {
        muted = new Map();
        for (const alert of suppressed) for (const id of alert.status.silencedBy) muted.set(id, (muted.get(id) || 0) + 1);
      }
      return { key: matchers, silences, muted };
    },
    [matchers],
    refresh,
  );

  const data = state.data;
  const counts = useMemo(() => {
    const out = { active: 0, pending: 0, expired: 0 };
    if (data) for (const s of data.silences) out[s.status.state] += 1;
    return out;
  }, [data]);
  const needle = text.trim().toLowerCase();
  const visible = useMemo(() => {
    if (!data) return [];
    return data.silences.filter((s) => s.status.state === tab && (!needle || searchable(s).includes(needle)));
  }, [data, tab, needle]);

  const canWrite = can(me, ROLE_SILENCE);
  const now = Date.now();

  const expire = async (silence) => {
    setActionError(null);
    try {
      await api.delete(`/api/v2/silence/${encodeURIComponent(silence.id)}`);
      setExpiring(null);
      reload();
    } catch (error) {
      setActionError(error);
    }
  };

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">Silences</h1>
      </div>
      <form
        class="filterbar"
        role="search"
        aria-label="Search silences"
        onSubmit={(event) => {
          event.preventDefault();
          setMatchers(matchersDraft.trim());
        }}
      >
        <div class="field grow">
          <label for="filter">Search</label>
          <input
            id="filter"
            type="search"
            value={text}
            autocomplete="off"
            spellcheck={false}
            placeholder="id, author, comment or matcher text"
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </div>
        <div class="field grow">
          <label for="silence-matchers">Has matchers (exact, as Alertmanager's filter)</label>
          <div class="inline">
            <input
              id="silence-matchers"
              type="search"
              value={matchersDraft}
              autocomplete="off"
              spellcheck={false}
              placeholder={'alertname="DiskFull"'}
              onInput={(e) => setMatchersDraft(e.currentTarget.value)}
            />
            <button type="submit">Apply</button>
          </div>
        </div>
      </form>
      <div class="tabs" role="tablist" aria-label="Silence state">
        {STATES.map((name) => (
          <button key={name} type="button" role="tab" id={`tab-${name}`} aria-selected={tab === name} class={tab === name ? 'tab selected' : 'tab'} onClick={() => setTab(name)}>
            {name} <span class="count">{counts[name]}</span>
          </button>
        ))}
        {state.updatedAt && <span class="muted tab-note">updated {formatClock(state.updatedAt)}</span>}
      </div>
      <ErrorNote error={actionError} prefix="Expire failed" />
      <ErrorNote error={state.error} prefix={data ? 'Live update failed' : 'Could not load silences'} />
      {!data && !state.error && <Loading what="silences" />}
      {data && visible.length === 0 && <p class="empty">No {tab} silences{needle || matchers ? ' match' : ''}.</p>}
      {data && visible.length > 0 && (
        <VirtualList
          className="silence-list"
          label={`${tab} silences`}
          items={visible}
          getKey={(s) => s.id}
          estimateSize={() => 120}
          renderItem={(silence) => (
            <SilenceCard silence={silence} muted={data.muted} now={now} canWrite={canWrite} onExpire={() => setExpiring(silence)} />
          )}
        />
      )}
      <Dialog open={expiring !== null} id="expire-dialog" title="Expire this silence?" onClose={() => setExpiring(null)}>
        {expiring && (
          <>
            <p>
              <code>{formatMatchers(expiring.matchers.map(fromApi))}</code>
            </p>
            <p class="muted">
              {expiring.createdBy}: {expiring.comment}
            </p>
            <p>The alerts it mutes notify again at their next flush.</p>
            <ErrorNote error={actionError} prefix="Expire failed" />
            <div class="dialog-actions">
              <button type="button" class="danger" onClick={() => expire(expiring)}>
                Expire
              </button>
              <button type="button" onClick={() => setExpiring(null)}>
                Cancel
              </button>
            </div>
          </>
        )}
      </Dialog>
    </section>
  );
}

function SilenceCard({ silence, muted, now, canWrite, onExpire }) {
  const matchers = silence.matchers.map(fromApi);
  const startsAt = new Date(silence.startsAt);
  const endsAt = new Date(silence.endsAt);
  const state = silence.status.state;
  const count = muted ? muted.get(silence.id) || 0 : null;
  const alertsQuery = `/alerts?q=${encodeURIComponent(matchers.map(formatMatcher).join(', '))}`;
  return (
    <article class={`silence-card state-${state}`} data-silence-id={silence.id} aria-label={`silence ${silence.id}`}>
      <div class="silence-main">
        <span class={`badge badge-silence-${state}`}>{state}</span>
        <span class="silence-matchers">
          {matchers.map((m, i) => (
            <LabelChip key={i} name={m.name} op={m.op} value={m.value} />
          ))}
        </span>
      </div>
      <p class="silence-comment">
        <strong>{silence.createdBy}</strong>: {silence.comment}
      </p>
      <div class="silence-meta">
        <span>
          {state === 'pending' ? 'starts ' : 'started '}
          <RelTime date={startsAt} now={now} />
        </span>
        <span>
          {state === 'expired' ? 'ended ' : 'ends '}
          <RelTime date={endsAt} now={now} /> <span class="muted">({formatTime(endsAt)})</span>
        </span>
        {count !== null && state === 'active' && (
          <Link to={alertsQuery} title="Show the alerts these matchers select">
            {count} alert{count === 1 ? '' : 's'} silenced
          </Link>
        )}
        <code class="muted silence-id">{silence.id}</code>
      </div>
      {canWrite && (
        <div class="silence-actions">
          {state !== 'expired' ? (
            <>
              <Link class="button small" to={`/silences/${silence.id}/edit`}>
                Edit
              </Link>
              <button type="button" class="small danger" onClick={onExpire}>
                Expire
              </button>
            </>
          ) : (
            <Link class="button small" to={`/silences/new?from=${silence.id}`}>
              Recreate
            </Link>
          )}
        </div>
      )}
    </article>
  );
}

/** After a successful POST: the silence, found by its id, in the tab of its state. */
export function afterSave(id, created, state) {
  const tab = state === 'active' ? '' : `&state=${state}`;
  navigate(`/silences?q=${encodeURIComponent(id)}${tab}`, { message: `Silence ${id} ${created ? 'created' : 'updated'}.` });
}
