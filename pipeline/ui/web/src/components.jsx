// Small pieces shared by the pages.
import { useEffect, useRef } from 'preact/hooks';
import { formatTime, relative } from './time.js';

/** Only http(s) links from alert data become hrefs: a `javascript:` URL in an annotation must not run. */
export function safeHref(url) {
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

export function LabelChip({ name, value, onPick, op = '=' }) {
  const text = (
    <>
      <span class="chip-name">{name}</span>
      <span class="chip-op">{op}</span>
      <span class="chip-value">{value}</span>
    </>
  );
  if (!onPick) return <span class="chip">{text}</span>;
  return (
    <button type="button" class="chip chip-button" title={`Filter by ${name}${op}"${value}"`} onClick={() => onPick(name, value)}>
      {text}
    </button>
  );
}

/** The state Alertmanager shows: active, or suppressed with what silences or inhibits it. */
export function StateBadge({ status }) {
  if (status.state !== 'suppressed') return <span class={`badge badge-${status.state}`}>{status.state}</span>;
  const kinds = [];
  if (status.silencedBy.length) kinds.push('silenced');
  if (status.inhibitedBy.length) kinds.push('inhibited');
  return <span class={`badge badge-${kinds[0] || 'suppressed'}`}>{kinds.join(' + ') || 'suppressed'}</span>;
}

export function RelTime({ date, now }) {
  return (
    <time dateTime={date.toISOString()} title={`${formatTime(date)} (${date.toISOString()})`}>
      {relative(date, now)}
    </time>
  );
}

export function ErrorNote({ error, prefix }) {
  if (!error) return null;
  return (
    <p class="error-note" role="alert">
      {prefix ? `${prefix}: ` : ''}
      {error.message || String(error)}
    </p>
  );
}

/** A modal dialog (native <dialog>: focus is trapped and restored, Escape closes). */
export function Dialog({ open, title, onClose, children, id }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} id={id} aria-labelledby={id ? `${id}-title` : undefined} onClose={onClose} onCancel={onClose}>
      <h2 id={id ? `${id}-title` : undefined}>{title}</h2>
      {children}
    </dialog>
  );
}

export function Loading({ what }) {
  return <p class="muted" role="status">Loading {what}…</p>;
}
