// Charts drawn as SVG by this code (no chart library: two small pictures do not need one). The SVG
// scales to its box without keeping its aspect ratio, so the bars fill any width; every text is HTML
// next to it (text inside a stretched SVG would stretch too). Colours come from the theme's variables.
import { formatTime } from './time.js';

const pad = (n) => String(n).padStart(2, '0');

function tickLabel(date, step) {
  if (step >= 86400) return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Firings per bucket (GET /api/history/firings): one bar per bucket, the busiest one named. */
export function FiringsChart({ series, label = 'Firings over time' }) {
  const buckets = series.buckets;
  if (buckets.length === 0) return null;
  const max = Math.max(1, ...buckets.map((b) => b.firings));
  const busiest = buckets.reduce((a, b) => (b.firings > a.firings ? b : a), buckets[0]);
  const unit = series.step >= 86400 ? 'day' : 'hour';
  const first = new Date(buckets[0].at);
  const last = new Date(buckets[buckets.length - 1].at);
  const middle = new Date(buckets[Math.floor(buckets.length / 2)].at);
  const width = buckets.length;
  const summary =
    `${label}: ${series.total} firings in ${buckets.length} ${unit}s from ${formatTime(first)}` +
    (series.total ? `, most (${busiest.firings}) in the ${unit} from ${formatTime(new Date(busiest.at))}` : '');
  return (
    <figure class="chart" data-testid="firings-chart">
      <figcaption>
        <strong>{label}</strong>{' '}
        <span class="muted">
          per {unit} · <span data-testid="firings-total">{series.total.toLocaleString('en')}</span> firings
          {series.total > 0 && ` · peak ${busiest.firings} at ${formatTime(new Date(busiest.at))}`}
        </span>
      </figcaption>
      <div class="chart-body">
        <div class="chart-y muted" aria-hidden="true">
          <span>{max}</span>
          <span>0</span>
        </div>
        <svg class="chart-svg" viewBox={`0 0 ${width} 100`} preserveAspectRatio="none" role="img" aria-label={summary}>
          <line class="chart-grid" x1="0" y1="0.5" x2={width} y2="0.5" vector-effect="non-scaling-stroke" />
          <line class="chart-grid" x1="0" y1="50" x2={width} y2="50" vector-effect="non-scaling-stroke" />
          {buckets.map((b, i) => {
            const h = (b.firings / max) * 100;
            return (
              <rect key={b.at} class={b.firings ? 'chart-bar' : 'chart-bar empty'} x={i + 0.1} width="0.8" y={100 - h} height={h}>
                <title>{`${formatTime(new Date(b.at))}: ${b.firings} firing${b.firings === 1 ? '' : 's'}`}</title>
              </rect>
            );
          })}
          <line class="chart-axis" x1="0" y1="100" x2={width} y2="100" vector-effect="non-scaling-stroke" />
        </svg>
      </div>
      <div class="chart-x muted" aria-hidden="true">
        <span>{tickLabel(first, series.step)}</span>
        {buckets.length > 2 && <span>{tickLabel(middle, series.step)}</span>}
        {buckets.length > 1 && <span>{tickLabel(last, series.step)}</span>}
      </div>
    </figure>
  );
}

/** An alert's firing spans between `start` and `end` (ms): red while firing, and a tick per
 * notification. `spans`: [{from, to}] in ms; `marks`: [{at, outcome}] in ms. */
export function TimelineStrip({ start, end, spans, marks }) {
  const total = Math.max(1, end - start);
  const x = (t) => ((Math.min(Math.max(t, start), end) - start) / total) * 1000;
  return (
    <figure class="chart strip" data-testid="timeline-strip">
      <svg
        class="strip-svg"
        viewBox="0 0 1000 30"
        preserveAspectRatio="none"
        role="img"
        aria-label={`Firing ${spans.length} time${spans.length === 1 ? '' : 's'} between ${formatTime(new Date(start))} and ${formatTime(new Date(end))}, ${marks.length} notification${marks.length === 1 ? '' : 's'}`}
      >
        <rect class="strip-bg" x="0" y="4" width="1000" height="16" />
        {spans.map((s, i) => (
          <rect key={i} class="strip-firing" x={x(s.from)} y="4" width={Math.max(2, x(s.to) - x(s.from))} height="16">
            <title>{`firing ${formatTime(new Date(s.from))} – ${s.open ? 'now' : formatTime(new Date(s.to))}`}</title>
          </rect>
        ))}
        {marks.map((m, i) => (
          <rect key={`m${i}`} class={`strip-mark outcome-${m.outcome || 'none'}`} x={x(m.at) - 1} y="22" width="2" height="8">
            <title>{`notification ${formatTime(new Date(m.at))}: ${m.outcome || 'no outcome yet'}`}</title>
          </rect>
        ))}
      </svg>
      <div class="chart-x muted" aria-hidden="true">
        <span>{formatTime(new Date(start))}</span>
        <span>{formatTime(new Date(end))}</span>
      </div>
    </figure>
  );
}
