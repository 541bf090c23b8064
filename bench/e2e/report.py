"""Markdown for bench.e2e: the tables of RESULTS.md."""

from __future__ import annotations

import os
import platform
import statistics

from bench.ingest.__main__ import loadavg

GIB_KIB = 1024 * 1024


def _med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def _spread(values, fmt="{:.1f}"):
    values = [v for v in values if v == v]
    if not values:
        return "—"
    m = statistics.median(values)
    return fmt.format(m) + (f" ({fmt.format(min(values))}–{fmt.format(max(values))})" if len(values) > 1 else "")


def _rss_fit(rows):
    """Slope KiB per alert and intercept from the RSS points (least squares on total RSS)."""
    pts = [(r["active"], sum(r["rss_kib"].values())) for r in rows]
    if len(pts) < 2:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if not den:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den
    return slope, my - slope * mx


def _proc(bench, name: str) -> str:
    """A process's name in the tables: a chain's worker with its stages."""
    stages = bench.chains.get(name)
    return f"{name} ({'→'.join(stages)})" if stages and stages != [name] else name


RUNS_MARKER = "<!-- bench.e2e adds each run below this line, newest first -->"


def prepend(path, text: str) -> None:
    """Put a run's section into RESULTS.md above the earlier runs: below ``RUNS_MARKER`` when the file
    has it, else after its preamble (the title and whatever precedes the first ``## `` section)."""
    old = path.read_text() if path.exists() else "# End-to-end benchmark: pipeline vs Alertmanager 0.25\n"
    marker = old.find(RUNS_MARKER)
    if marker >= 0:
        at = marker + len(RUNS_MARKER)
        head, rest = old[:at], old[at:].lstrip("\n")
    else:
        at = old.find("\n## ")
        head, rest = (old, "") if at < 0 else (old[:at + 1], old[at + 1:])
    path.write_text(f"{head.rstrip()}\n\n{text.rstrip()}\n" + (f"\n{rest}" if rest else ""))


def markdown(bench) -> str:
    a = bench.args
    label = f"{a.label}, " if a.label else ""
    chains = "; ".join(f"`{name}` ({'→'.join(stages)})" for name, stages in bench.chains.items())
    lines = [f"## {label[:1].upper() + label[1:]}{bench.started:%Y-%m-%d %H:%M} UTC, topology {bench.topology}, "
             f"commit {bench.commit}", "",
             f"`python -m bench.e2e {bench.argv}` — both targets up side by side "
             "for the whole run, same routing (`group_by: [group]`, group_wait 0s, group_interval 5m, one webhook "
             f"receiver in its own process), open-loop load in POSTs of {a.batch} alerts (as Prometheus batches) "
             "from generator processes of their own; every alert new, send time in an annotation. The pipeline is "
             f"the bridge plus one worker process per chain of topologies/{bench.topology}.yaml: {chains}; "
             f"{a.store} table store, on the broker named below; the sink's per-target rate limit is lifted for "
             "the bench. CPU and RSS are per process tree from /proc, summed over the bridge and every chain. "
             "Alertmanager keeps everything in memory.", ""]
    if bench.startup:
        lines += [f"Start-up (spawn → ready: every chain's consumer group stable, the bridge answering): pipeline "
                  f"{bench.startup.get('pipeline', float('nan')):.1f} s, Alertmanager "
                  f"{bench.startup.get('alertmanager', float('nan')):.1f} s.", ""]
    busy = bench.machine_busy
    if busy:
        lines += [f"The whole machine was {min(busy):.0f}–{max(busy):.0f}% busy (of {100 * (os.cpu_count() or 1)}%) "
                  "during the latency windows (both targets, the broker, the generator, the receiver and whatever else "
                  "ran: see the notes and the `top` snapshots at the end). With more than one round: medians of the "
                  "rounds with the range in brackets.", ""]

    # --- first alert after start
    if bench.first:
        lines += ["### 0. First alert after start, POST → webhook (group_wait 0: the target is ≤ 100 ms)", "",
                  "| target | first alert ms | POST answered ms | the next ones, one at a time, ms |",
                  "| --- | ---: | ---: | --- |"]
        for r in bench.first:
            rest = ", ".join(f"{v:.0f}" for v in r["followers_ms"]) or "—"
            lines.append(f"| {r['target']} | {r['first_ms']:.1f} | {r['post_ms'][0]:.1f} | {rest} |")
        pipe = [r for r in bench.first if r["target"] == "pipeline"]
        if pipe:
            ok = pipe[0]["first_ms"] <= 100
            lines += ["", f"- pipeline's first alert within group_wait + 100 ms: **{'met' if ok else 'not met'}**"]
        lines.append("")

    # --- latency
    for rate in a.latency_rates:
        rows_at = [r for r in bench.latency if r["rate"] == rate]
        if not rows_at:
            continue
        lines += [f"### 1. Latency, bridge POST → webhook delivery, {rate:,.0f} alerts/s in "
                  f"{int(rate * a.latency_seconds):,} groups ({a.latency_seconds:g} s, every alert opens its group)", "",
                  "| target | round | delivered / sent | webhooks | p50 ms | p99 ms | max ms | POST p99 ms | machine busy |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows_at:
            lines.append(f"| {r['target']} | {r['round']} | {r['delivered']:,} / {r['sent']:,} | {r['deliveries']:,} | "
                         f"{r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | {r['post_p99']:.1f} | {r['machine_busy']:.0f}% |")
        lines.append("")
        for t in ("pipeline", "alertmanager"):
            rows = [r for r in rows_at if r["target"] == t]
            if rows:
                p99 = _med([r["p99"] for r in rows])
                extra = (f" — target p99 ≤ 100 ms at 1,000/s: **{'met' if p99 <= 100 else 'not met'}**"
                         if t == "pipeline" and rate == 1000 else "")
                lines.append(f"- {t}: p50 {_spread([r['p50'] for r in rows])} ms, "
                             f"p99 {_spread([r['p99'] for r in rows])} ms{extra}")
        lines.append("")
    lat_cpu = [r for r in bench.latency if r["target"] == "pipeline" and r["rate"] == a.latency_rates[0]]
    if lat_cpu:
        lines += [f"CPU per 1,000 alerts in the storm shape (the {a.latency_rates[0]:,}/s latency windows, every alert "
                  "its own group and webhook; ms, median of rounds; /proc, process trees):", "",
                  "| process | CPU ms / 1k alerts |", "| --- | ---: |"]
        for proc in lat_cpu[0]["cpu_s"]:
            lines.append(f"| {_proc(bench, proc)} | {_med([1e6 * r['cpu_s'][proc] / max(1, r['sent']) for r in lat_cpu]):.0f} |")
        total = _med([1e6 * sum(r["cpu_s"].values()) / max(1, r["sent"]) for r in lat_cpu])
        am = [r for r in bench.latency if r["target"] == "alertmanager" and r["rate"] == a.latency_rates[0]]
        am_ms = _med([1e6 * sum(r["cpu_s"].values()) / max(1, r["sent"]) for r in am]) if am else float("nan")
        ratio = total / am_ms if am_ms == am_ms and am_ms else float("nan")
        lines += [f"| **total pipeline (without broker)** | **{total:.0f}** |", f"| alertmanager | {am_ms:.0f} |", "",
                  f"- pipeline / Alertmanager: **{ratio:.1f}×** — target ≤ 3×: **{'met' if ratio <= 3 else 'not met'}**", "",
                  f"At {total:.0f} ms of CPU per 1,000 alerts the pipeline's processes alone need "
                  f"{total / 10:.0f}% of one core per 1,000 alerts/s: on 2 cores the CPU ceiling is about "
                  f"{2000 / total * 1000 if total else float('nan'):,.0f} alerts/s before the broker, generator and "
                  f"neighbours take their share (Alertmanager: {am_ms:.0f} ms → ~{2000 / am_ms * 1000 if am_ms else 0:,.0f}/s).", ""]

    # --- ladder
    if bench.ladder:
        lines += ["### 2. Sustained rate (offered rate stepped up; a target's ladder stops at its first failed step)", "",
                  "| target | round | offered/s | answered/s | POST p99 ms | lag slope /s | max chain lag | drain s | machine busy | verdict |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
        for r in bench.ladder:
            slope = f"{r['lag_slope']:+,.0f}" if r["lag_slope"] is not None else "—"
            worst = f"{r['worst_chain']} {r['worst_lag']:,}" if r.get("worst_lag") is not None else "—"
            drain = f"{r['drain_s']:.0f}" if "drain_s" in r else "—"
            lines.append(f"| {r['target']} | {r['round']} | {r['rate']:,.0f} | {r['answered']:,.0f} | {r['post_p99']:.0f} | "
                         f"{slope} | {worst} | {drain} | {r['machine_busy']:.0f}% | {'keeps up' if r['ok'] else '**falls behind**'} |")
        lines.append("")
        for t in ("pipeline", "alertmanager"):
            best = []
            for rnd in sorted({r["round"] for r in bench.ladder}):
                ok = [r["rate"] for r in bench.ladder if r["target"] == t and r["round"] == rnd and r["ok"]]
                best.append(max(ok, default=0))
            # issue #12, storm shape (one webhook per alert): sustained ≥ 2,000 alerts/s without growing lag
            extra = (f" — target ≥ 2,000 alerts/s: **{'met' if _med(best) >= 2000 else 'not met'}**" if t == "pipeline" else "")
            lines.append(f"- {t}: highest step kept up, per round: {', '.join(f'{b:,}' for b in best)}{extra}")
        lines.append("")

    # --- RSS
    if bench.rss:
        lines += ["### 3. Memory: RSS with N active alerts (VmRSS per process tree)", "",
                  "| target | active alerts | RSS MiB per process | total MiB |", "| --- | ---: | --- | ---: |"]
        for r in bench.rss:
            per = ", ".join(f"{k} {v / 1024:.0f}" for k, v in r["rss_kib"].items())
            note = " (after the sustained ladder)" if r.get("after_ladder") else ""
            lines.append(f"| {r['target']} | {r['active']:,}{note} | {per} | {sum(r['rss_kib'].values()) / 1024:,.0f} |")
        lines.append("")
        for t in ("pipeline", "alertmanager"):
            rows = [r for r in bench.rss if r["target"] == t and r["active"] >= 50_000]
            fit = _rss_fit(rows)
            # A point within 1% of 1M counts as measured there: a few POSTs may be refused under load.
            at_target = [r for r in rows if r["active"] >= 990_000 and not r.get("after_ladder")]
            if at_target:
                r = at_target[0]
                total = sum(r["rss_kib"].values()) / GIB_KIB
                extra = f" — target ≤ 1 GiB: **{'met' if total <= 1 else 'not met'}**" if t == "pipeline" else ""
                slope = f"; {fit[0] * 1024:,.0f} bytes per active alert (least squares over the points ≥ 50k)" if fit else ""
                lines.append(f"- {t}: **measured {total:.2f} GiB** at {r['active']:,} active alerts{extra}{slope}")
            elif fit:
                slope, icpt = fit
                at_1m = (icpt + slope * 1_000_000) / GIB_KIB
                extra = (f" — target ≤ 1 GiB: **{'met' if at_1m <= 1 else 'not met'} (extrapolated)**" if t == "pipeline" else "")
                lines.append(f"- {t}: {slope * 1024:,.0f} bytes per active alert (least squares over the points ≥ 50k); "
                             f"**extrapolated, not measured**: {at_1m:.2f} GiB at 1,000,000 active alerts{extra}")
        if bench.rss:
            lines.append("")

    # --- profile
    if bench.profile:
        pc = bench.profile_cpu
        lines += [f"### 4. Where the time goes: py-spy on every pipeline process at {a.profile_rate:,.0f} alerts/s "
                  f"for {a.profile_seconds:g} s", "",
                  "CPU seconds per process in the window ({:,} alerts), and py-spy's samples of the thread holding the "
                  "GIL (`--gil`: Python work only; waits in select() and librdkafka's poll release the GIL and would "
                  "otherwise be counted as busy) bucketed by the innermost frame that belongs to a bucket:".format(pc.get("alerts", 0)), ""]
        lines += ["| process | CPU ms / 1k alerts | samples | top buckets | top own-time functions |",
                  "| --- | ---: | ---: | --- | --- |"]
        for name, prof in bench.profile.items():
            cpu = 1e6 * pc["cpu_s"].get(name, 0) / max(1, pc.get("alerts", 1))
            label = _proc(bench, name)
            if "error" in prof:
                lines.append(f"| {label} | {cpu:.0f} | — | py-spy failed: {prof['error'][:120]} | |")
                continue
            buckets = "; ".join(f"{k} {v:.0f}%" for k, v in prof["buckets"][:4])
            top = "; ".join(f"`{k}` {v:.0f}%" for k, v in prof["self_top"][:5])
            lines.append(f"| {label} | {cpu:.0f} | {prof['samples']:,} | {buckets} | {top} |")
        lines.append("")

    if bench.notes:
        lines += ["### Notes", "", *[f"- {n}" for n in bench.notes], ""]
    lines += ["### Machine and versions", "",
              f"- {platform.platform()}, {os.cpu_count()} cores; load average before {bench.loadavg_before}, after {loadavg()}",
              *[f"- {k}: {v}" for k, v in bench.versions.items()], f"- harness wall time: {bench.wall_s:.0f}s", ""]
    for when, snap in (("before", bench.top_before), ("after", bench.top_after)):
        if snap:
            lines += [f"`top` {when} the run (CPU over 2 s):", "", "```", snap, "```", ""]
    return "\n".join(lines)
