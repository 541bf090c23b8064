// Times as the UI shows and edits them. The API speaks RFC 3339 UTC; people read local time.

const UNITS = [
  ['w', 7 * 24 * 3600e3],
  ['d', 24 * 3600e3],
  ['h', 3600e3],
  ['m', 60e3],
  ['s', 1e3],
];

/** "2h30m", "1d", "90s" (Prometheus duration units w, d, h, m, s; no fractions) -> milliseconds, or null. */
export function parseDuration(text) {
  const trimmed = text.trim();
  if (!/^(\d+[wdhms])+$/.test(trimmed)) return null;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([wdhms])/g)) {
    total += Number(amount) * UNITS.find(([u]) => u === unit)[1];
  }
  return total > 0 && Number.isSafeInteger(total) ? total : null;
}

/** Milliseconds as the largest two units: "1d2h", "45m", "30s". */
export function formatDuration(ms) {
  let rest = Math.max(0, Math.round(ms / 1e3) * 1e3);
  if (rest === 0) return '0s';
  const parts = [];
  for (const [unit, size] of UNITS.slice(1)) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join('');
}

/** "5m ago" / "in 2h" relative to now. */
export function relative(date, now = Date.now()) {
  const delta = date.getTime() - now;
  const text = formatDuration(Math.abs(delta));
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

const pad = (n) => String(n).padStart(2, '0');

/** A Date as a datetime-local input value (local time, minutes). */
export function toLocalInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A datetime-local value as a Date, or null. */
export function fromLocalInput(value) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  const date = new Date(value); // no zone designator: local time, per ECMAScript
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Local date and time to the minute, "2026-11-24 14:03". */
export function formatTime(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function formatClock(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
