// The silence editor: new (optionally prefilled from ?matcher=… values, or ?from=<id> to recreate),
// or /silences/<id>/edit. Client-side checks mirror the API's (pipeline/muting/silences.py and the
// POST body validation) and, stricter than the API, require a non-empty author and comment, as
// Alertmanager's own UI does; whatever the API still refuses is shown with its message.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, LabelChip, Loading, StateBadge } from '../components.jsx';
import { can, ROLE_SILENCE, useMe } from '../me.jsx';
import { anchoredRegex, formatMatcher, fromApi, LABEL_NAME, matchesEmpty, OPERATORS, parseMatcher, toApi } from '../matchers.js';
import { Link } from '../router.jsx';
import { store, storedAuthor } from '../settings.jsx';
import { formatDuration, fromLocalInput, parseDuration, toLocalInput } from '../time.js';
import { afterSave } from './silences.jsx';

const DEFAULT_DURATION = 2 * 3600e3;
const PREVIEW_LIMIT = 25;
const PREVIEW_DELAY_MS = 300;

let rowIds = 0;
const row = (m = { name: '', op: '=', value: '' }) => ({ ...m, id: ++rowIds });

function prefill(query) {
  const rows = [];
  const problems = [];
  for (const text of query.getAll('matcher')) {
    try {
      rows.push(row(parseMatcher(text)));
    } catch (error) {
      problems.push(error.message);
    }
  }
  return { rows, problems };
}

/** Every problem the API would find (and an empty author or comment), by field. */
export function validate(form, now) {
  const errors = {};
  if (!form.createdBy.trim()) errors.createdBy = 'Author is required.';
  if (!form.comment.trim()) errors.comment = 'Comment is required.';
  if (!form.matchers.length) errors.matchers = 'at least one matcher required';
  form.matchers.forEach((m, i) => {
    if (!LABEL_NAME.test(m.name)) errors[`name-${m.id}`] = `invalid label name "${m.name}"`;
    else if ((m.op === '=~' || m.op === '!~') && anchoredRegex(m.value) === null)
      errors[`value-${m.id}`] = `invalid regular expression in matcher ${i}`;
  });
  if (form.matchers.length && !errors.matchers && form.matchers.every(matchesEmpty))
    errors.matchers = 'at least one matcher must not match the empty string';
  if (!form.startsAt) errors.startsAt = 'Start is not a valid date and time.';
  if (!form.endsAt) errors.endsAt = 'End is not a valid date and time (or the duration is not like 2h, 1d, 30m).';
  if (form.startsAt && form.endsAt) {
    if (form.startsAt >= form.endsAt) errors.endsAt = 'start time must be before end time';
    else if (form.endsAt < now) errors.endsAt = "end time can't be in the past";
  }
  return errors;
}

export function SilenceEditPage({ query, silenceId }) {
  const me = useMe();
  const from = silenceId || query.get('from');
  const [loaded, setLoaded] = useState(from ? null : { silence: null });
  const [loadError, setLoadError] = useState(null);

  useEffect(() => {
    if (!from) return;
    api.get(`/api/v2/silence/${encodeURIComponent(from)}`).then(
      (silence) => setLoaded({ silence }),
      (error) => setLoadError(error.status === 404 || error.status === 422 ? new Error(`no silence with id ${from}`) : error),
    );
  }, [from]);

  if (!can(me, ROLE_SILENCE)) {
    return (
      <section aria-labelledby="page-title">
        <h1 id="page-title">{silenceId ? 'Edit silence' : 'New silence'}</h1>
        <p class="notice" role="note">
          Your roles ({me.roles.join(', ') || 'none'}) do not include <code>silence</code>: you can look at silences, not
          create or change them.
        </p>
        <Link to="/silences">Back to silences</Link>
      </section>
    );
  }
  if (loadError) return <ErrorNote error={loadError} prefix="Could not load the silence" />;
  if (!loaded) return <Loading what="the silence" />;
  return <Editor query={query} editing={silenceId ? loaded.silence : null} copyOf={silenceId ? null : loaded.silence} />;
}

function Editor({ query, editing, copyOf }) {
  const source = editing || copyOf;
  const initial = useMemo(() => {
    const opened = new Date();
    if (source) {
      const startsAt = editing ? new Date(editing.startsAt) : opened;
      const endsAt = editing ? new Date(editing.endsAt) : new Date(opened.getTime() + DEFAULT_DURATION);
      return {
        rows: source.matchers.map((m) => row(fromApi(m))),
        problems: [],
        startsAt,
        endsAt,
        comment: source.comment,
        createdBy: editing ? editing.createdBy : storedAuthor(),
      };
    }
    const { rows, problems } = prefill(query);
    return {
      rows: rows.length ? rows : [row()],
      problems,
      startsAt: opened,
      endsAt: new Date(opened.getTime() + DEFAULT_DURATION),
      comment: query.get('comment') ?? '',
      createdBy: storedAuthor(),
    };
  }, []);

  const [rows, setRows] = useState(initial.rows);
  // Times: untouched, the start is "now at submit" for a new silence and the stored startsAt (to
  // the millisecond: the API only updates in place with the same start) for an edit.
  const [startText, setStartText] = useState(toLocalInput(initial.startsAt));
  const [startTouched, setStartTouched] = useState(false);
  const [durationText, setDurationText] = useState(formatDuration(initial.endsAt - initial.startsAt));
  const [endText, setEndText] = useState(toLocalInput(initial.endsAt));
  // Where the end comes from: the stored endsAt (an edit, untouched), start + duration, or the end field.
  const [endMode, setEndMode] = useState(editing ? 'stored' : 'duration');
  const [createdBy, setCreatedBy] = useState(initial.createdBy);
  const [comment, setComment] = useState(initial.comment);
  const [errors, setErrors] = useState({});
  const [submitError, setSubmitError] = useState(null);
  const [saving, setSaving] = useState(false);
  const summaryRef = useRef(null);

  const startOf = () => (startTouched ? fromLocalInput(startText) : editing ? new Date(editing.startsAt) : new Date());
  const endOf = (start) => {
    if (endMode === 'stored') return new Date(editing.endsAt);
    if (endMode === 'end') return fromLocalInput(endText);
    const duration = parseDuration(durationText);
    return start && duration !== null ? new Date(start.getTime() + duration) : null;
  };

  const onStart = (text) => {
    setStartText(text);
    setStartTouched(true);
    const start = fromLocalInput(text);
    const duration = parseDuration(durationText);
    if (start && duration !== null) {
      setEndText(toLocalInput(new Date(start.getTime() + duration)));
      setEndMode('duration');
    }
  };
  const onDuration = (text) => {
    setDurationText(text);
    setEndMode('duration');
    const start = startOf();
    const duration = parseDuration(text);
    if (start && duration !== null) setEndText(toLocalInput(new Date(start.getTime() + duration)));
  };
  const onEnd = (text) => {
    setEndText(text);
    setEndMode('end');
    const start = startOf();
    const end = fromLocalInput(text);
    if (start && end && end > start) setDurationText(formatDuration(end - start));
  };

  const updateRow = (id, change) => setRows(rows.map((r) => (r.id === id ? { ...r, ...change } : r)));
  const removeRow = (id) => setRows(rows.filter((r) => r.id !== id));

  const submit = async (event) => {
    event.preventDefault();
    setSubmitError(null);
    const startsAt = startOf();
    const endsAt = endOf(startsAt);
    const form = { matchers: rows, startsAt, endsAt, createdBy, comment };
    const found = validate(form, new Date());
    setErrors(found);
    if (Object.keys(found).length) {
      requestAnimationFrame(() => summaryRef.current?.focus());
      return;
    }
    const body = {
      matchers: rows.map((r) => toApi(r)),
      startsAt: startsAt.toISOString(),
      endsAt: endsAt.toISOString(),
      createdBy: createdBy.trim(),
      comment: comment.trim(),
    };
    if (editing) body.id = editing.id;
    setSaving(true);
    try {
      const answer = await api.post('/api/v2/silences', body);
      store('ui.author', body.createdBy);
      afterSave(answer.silenceID, !editing || answer.silenceID !== editing.id, startsAt > new Date() ? 'pending' : 'active');
    } catch (error) {
      setSubmitError(error);
      setSaving(false);
      requestAnimationFrame(() => summaryRef.current?.focus());
    }
  };

  const errorList = Object.values(errors);
  const title = editing ? 'Edit silence' : 'New silence';
  return (
    <section aria-labelledby="page-title" class="editor">
      <div class="page-head">
        <h1 id="page-title">{title}</h1>
        {editing && <code class="muted">{editing.id}</code>}
      </div>
      {initial.problems.length > 0 && <ErrorNote error={new Error(initial.problems.join('; '))} prefix="Some prefilled matchers were not understood" />}
      <div class="editor-grid">
        <form class="silence-form" onSubmit={submit} noValidate>
          {(errorList.length > 0 || submitError) && (
            <div class="error-summary" role="alert" tabIndex={-1} ref={summaryRef}>
              <h2>{submitError ? 'The API refused the silence' : 'Please fix:'}</h2>
              <ul>
                {submitError ? <li>{submitError.message}</li> : errorList.map((text) => <li key={text}>{text}</li>)}
              </ul>
            </div>
          )}
          <fieldset>
            <legend>Matchers</legend>
            <p class="muted small">Alerts whose labels match all of these are silenced.</p>
            {errors.matchers && <p class="field-error">{errors.matchers}</p>}
            <div class="matcher-rows">
              {rows.map((r, i) => (
                <div class="matcher-row" key={r.id}>
                  <label class="sr-only" for={`m-name-${r.id}`}>Matcher {i + 1} label name</label>
                  <input
                    id={`m-name-${r.id}`}
                    class="m-name"
                    value={r.name}
                    placeholder="label"
                    autocomplete="off"
                    spellcheck={false}
                    aria-invalid={errors[`name-${r.id}`] ? 'true' : undefined}
                    onInput={(e) => updateRow(r.id, { name: e.currentTarget.value })}
                  />
                  <label class="sr-only" for={`m-op-${r.id}`}>Matcher {i + 1} operator</label>
                  <select id={`m-op-${r.id}`} class="m-op" value={r.op} onChange={(e) => updateRow(r.id, { op: e.currentTarget.value })}>
                    {OPERATORS.map((op) => (
                      <option key={op} value={op}>
                        {op}
                      </option>
                    ))}
                  </select>
                  <label class="sr-only" for={`m-value-${r.id}`}>Matcher {i + 1} value</label>
                  <input
                    id={`m-value-${r.id}`}
                    class="m-value"
                    value={r.value}
                    placeholder="value"
                    autocomplete="off"
                    spellcheck={false}
                    aria-invalid={errors[`value-${r.id}`] ? 'true' : undefined}
                    onInput={(e) => updateRow(r.id, { value: e.currentTarget.value })}
                  />
                  <button type="button" class="small" aria-label={`Remove matcher ${i + 1}`} onClick={() => removeRow(r.id)}>
                    ✕
                  </button>
                  {(errors[`name-${r.id}`] || errors[`value-${r.id}`]) && <p class="field-error">{errors[`name-${r.id}`] || errors[`value-${r.id}`]}</p>}
                </div>
              ))}
            </div>
            <button type="button" class="small" onClick={() => setRows([...rows, row()])}>
              Add matcher
            </button>
          </fieldset>
          <fieldset class="times">
            <legend>Time</legend>
            <div class="field">
              <label for="starts-at">Starts</label>
              <input id="starts-at" type="datetime-local" value={startText} onInput={(e) => onStart(e.currentTarget.value)} aria-invalid={errors.startsAt ? 'true' : undefined} />
              {!startTouched && <small class="muted">{editing ? 'as stored' : 'now, when saved'}</small>}
            </div>
            <div class="field">
              <label for="duration">Duration</label>
              <input id="duration" value={durationText} placeholder="2h" autocomplete="off" onInput={(e) => onDuration(e.currentTarget.value)} />
              <small class="muted">w, d, h, m, s: 1d12h</small>
            </div>
            <div class="field">
              <label for="ends-at">Ends</label>
              <input id="ends-at" type="datetime-local" value={endText} onInput={(e) => onEnd(e.currentTarget.value)} aria-invalid={errors.endsAt ? 'true' : undefined} />
            </div>
            {(errors.startsAt || errors.endsAt) && <p class="field-error">{errors.startsAt || errors.endsAt}</p>}
          </fieldset>
          <div class="field">
            <label for="created-by">Author</label>
            <input id="created-by" value={createdBy} autocomplete="username" required aria-invalid={errors.createdBy ? 'true' : undefined} onInput={(e) => setCreatedBy(e.currentTarget.value)} />
            {errors.createdBy && <p class="field-error">{errors.createdBy}</p>}
          </div>
          <div class="field">
            <label for="comment">Comment</label>
            <textarea id="comment" rows={3} value={comment} required aria-invalid={errors.comment ? 'true' : undefined} onInput={(e) => setComment(e.currentTarget.value)} />
            {errors.comment && <p class="field-error">{errors.comment}</p>}
          </div>
          <div class="form-actions">
            <button type="submit" class="primary" disabled={saving}>
              {saving ? 'Saving…' : editing ? 'Save' : 'Create silence'}
            </button>
            <Link to="/silences">Cancel</Link>
          </div>
        </form>
        <aside class="preview" aria-labelledby="preview-title">
          <Preview rows={rows} />
          <section class="preview-slot" aria-labelledby="would-have-title">
            <h2 id="would-have-title">Would have muted</h2>
            <p class="muted">
              The notifications this silence would have muted over the last hours come from the silence preview API
              (issue #14); this server does not offer it yet.
            </p>
          </section>
        </aside>
      </div>
    </section>
  );
}

/** The alerts the matchers select now, via the alerts API's own filter (silenced and inhibited ones
 * included: a silence applies to them too). */
function Preview({ rows }) {
  const usable = rows.filter((r) => LABEL_NAME.test(r.name));
  const filters = usable.map(formatMatcher);
  const key = JSON.stringify(filters);
  const [state, setState] = useState({ key: null, alerts: null, error: null });
  useEffect(() => {
    if (!filters.length) {
      setState({ key, alerts: null, error: null });
      return undefined;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      api.get('/api/v2/alerts', { filter: filters }, controller.signal).then(
        (alerts) => setState({ key, alerts, error: null }),
        (error) => error.name !== 'AbortError' && setState({ key, alerts: null, error }),
      );
    }, PREVIEW_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [key]);
  const fresh = state.key === key;
  return (
    <section aria-labelledby="preview-title" aria-busy={!fresh}>
      <h2 id="preview-title">Matches now</h2>
      {!filters.length && <p class="muted">Add a matcher to see the alerts it selects.</p>}
      {state.error && <ErrorNote error={state.error} prefix="The API refused these matchers" />}
      {state.alerts && (
        <>
          <p class="preview-count" aria-live="polite" data-testid="preview-count">
            {state.alerts.length.toLocaleString('en')} alert{state.alerts.length === 1 ? '' : 's'} {fresh ? '' : '(updating…)'}
          </p>
          <ul class="preview-list">
            {state.alerts.slice(0, PREVIEW_LIMIT).map((alert) => (
              <li key={alert.fingerprint}>
                <StateBadge status={alert.status} />{' '}
                {Object.keys(alert.labels)
                  .sort()
                  .map((name) => (
                    <LabelChip key={name} name={name} value={alert.labels[name]} />
                  ))}
              </li>
            ))}
          </ul>
          {state.alerts.length > PREVIEW_LIMIT && <p class="muted">and {(state.alerts.length - PREVIEW_LIMIT).toLocaleString('en')} more</p>}
        </>
      )}
    </section>
  );
}
