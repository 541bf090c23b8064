"""Benchmark: the alerts page with many active alerts, measured in the browser.

    python -m bench.ui [--alerts 10000] [--runs 5] [--bootstrap HOST:PORT] [--no-write]

Writes ``--alerts`` firing alerts to alerts.enriched (tests.integration.ui.seed: 20 alert names, 5
services, 3 severities, one instance each; routed by the tests' Alertmanager configuration into 2,040
route groups), starts one bridge process (API view + UI) on a fresh topic prefix of the broker
(``--bootstrap``, else ``$KAFKA_BOOTSTRAP_SERVERS``, else a broker of the bench's own), and opens the
page ``--runs`` times in Debian's Chromium (headless, 1280x800, a fresh browser context each run: cold
HTTP cache, no storage). Per run, from the browser's own clocks (Performance API; CDP for CPU):

* **first useful paint**: the Element Timing paint of the first alert group's labels, from navigation
  start (the page's first paint of alert data; First Contentful Paint, the bare frame, is shown too),
  with its parts: the API answer's arrival (Resource Timing of GET /api/v2/alerts/groups) and the
  page's render of it (the ``ui:alerts:first-render`` mark);
* **filter**: from pressing Enter in the filter field to the filtered answer rendered
  (``ui:alerts:filter`` measure, which includes the API request), for one narrow and one broad filter;
* **group by instance**: the same measure for re-grouping every alert by a label with one value each;
* main-thread time (CDP Performance.getMetrics TaskDuration, ScriptDuration: the wall time of the
  renderer's main-thread tasks, so a busy machine inflates them) and the longest task (Long Tasks
  API): what "does not freeze the tab" means in numbers.

Prints markdown and writes bench/ui/RESULTS.md (``--no-write``: don't), keeping its ``## Notes``. Records the load average and
the busiest other processes before and after, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from bench.ingest.__main__ import loadavg
from bench.ingest.targets import own_kafka
from tests.integration.api.conftest import EnrichedWriter, get_json, wait_for, write_am_config
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import drop_topics_with_prefixes, settings_with_topology
from tests.integration.ui.browser import DESKTOP, ConsoleLog, chromium
from tests.integration.ui.seed import write_many

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
NOTES = "## Notes"

# Collected in the page after the first answer rendered (buffered observers see earlier entries).
COLLECT = """async () => {
    const observed = (type) => new Promise((resolve) => {
        const seen = [];
        try {
            new PerformanceObserver((list) => seen.push(...list.getEntries())).observe({ type, buffered: true });
        } catch { resolve([]); return; }
        setTimeout(() => resolve(seen), 50);
    });
    const [elements, tasks] = await Promise.all([observed('element'), observed('longtask')]);
    const paint = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
    const groups = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v2/alerts/groups'));
    const script = performance.getEntriesByType('resource').find((e) => e.name.includes('/ui/static/app.js'));
    const group = groups[0];
    return {
        fcp: paint('first-contentful-paint'),
        firstGroupPaint: elements.filter((e) => e.identifier === 'alert-group')
            .map((e) => e.renderTime || e.loadTime).reduce((a, b) => Math.min(a, b), Infinity),
        firstRender: performance.getEntriesByName('ui:alerts:first-render')[0]?.startTime ?? null,
        scriptEnd: script ? script.responseEnd : null,
        apiStart: group ? group.requestStart || group.startTime : null,
        apiEnd: group ? group.responseEnd : null,
        apiBytes: group ? group.decodedBodySize : null,
        apiBytesOnWire: group ? group.encodedBodySize : null,
        longestTask: tasks.reduce((a, t) => Math.max(a, t.duration), 0),
        heapMiB: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
    };
}"""

LAST_FILTER = """() => {
    const all = performance.getEntriesByName('ui:alerts:filter');
    const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v2/alerts'));
    const last = api[api.length - 1];
    return { ms: all.length ? all[all.length - 1].duration : null,
             apiMs: last ? last.responseEnd - last.startTime : null, count: all.length };
}"""


def _process_times() -> dict[int, tuple[int, str]]:
    """utime + stime (clock ticks) and the command line of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile
        out[int(entry.name)] = (int(fields[11]) + int(fields[12]), command)
    return out


def busiest_processes(seconds: float = 3.0, limit: int = 6) -> list[str]:
    """The processes that used the most CPU over the next ``seconds`` (sampled from /proc)."""
    before = _process_times()
    time.sleep(seconds)
    after = _process_times()
    ticks = os.sysconf("SC_CLK_TCK")
    used = sorted(((t - before[pid][0], command) for pid, (t, command) in after.items() if pid in before),
                  reverse=True)
    return [f"{100 * delta / ticks / seconds:.0f}% of a core: {' '.join(command.split())[:110]}"
            for delta, command in used[:limit] if delta > 0]


def cdp_metrics(session) -> dict[str, float]:
    return {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}


def measure(browser, url: str, count: int) -> dict:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    log = ConsoleLog()
    log.attach(page)
    session = context.new_cdp_session(page)
    session.send("Performance.enable")
    start = cdp_metrics(session)
    page.goto(f"{url}/ui/alerts")
    page.get_by_test_id("alert-count").filter(has_text=f"{count:,} alerts").wait_for(timeout=120_000)
    page.wait_for_timeout(300)  # let the paint of the rendered answer happen and be reported
    load = page.evaluate(COLLECT)
    loaded = cdp_metrics(session)
    result = {"load": load,
              "load_task_ms": (loaded["TaskDuration"] - start["TaskDuration"]) * 1000,
              "load_script_ms": (loaded["ScriptDuration"] - start["ScriptDuration"]) * 1000}
    steps = [("narrow filter", "#filter", 'alertname="Alert07", severity="critical"'),
             ("broad filter", "#filter", 'severity=~"critical|warning"'),
             ("no filter", "#filter", ""),
             ("group by instance", "#group-by", "instance")]
    for name, selector, value in steps:
        before = page.evaluate(LAST_FILTER)["count"]
        cpu_before = cdp_metrics(session)
        if selector == "#group-by":
            page.locator(selector).select_option(value)
        else:
            page.locator(selector).fill(value)
            page.locator(selector).press("Enter")
        wait_for(lambda: page.evaluate(LAST_FILTER)["count"], lambda n: n > before, timeout=120, what=name)
        taken = page.evaluate(LAST_FILTER)
        cpu_after = cdp_metrics(session)
        result[name] = {"ms": taken["ms"], "api_ms": taken["apiMs"],
                        "task_ms": (cpu_after["TaskDuration"] - cpu_before["TaskDuration"]) * 1000,
                        "shown": page.get_by_test_id("alert-count").inner_text()}
    result["longest_task_ms"] = page.evaluate(COLLECT)["longestTask"]
    context.close()
    if log.unexpected():
        raise RuntimeError("browser console errors: " + "; ".join(log.unexpected()))
    return result


def sample_during(browser, url: str, count: int) -> list[str]:
    """What ran while the page re-filtered in a loop for a few seconds (one more, unrecorded run)."""
    import threading

    found: list[str] = []
    sampler = threading.Thread(target=lambda: found.extend(busiest_processes()))
    sampler.start()
    while sampler.is_alive():
        measure(browser, url, count)
    sampler.join()
    return found


def spread(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def report(runs: list[dict], meta: dict) -> str:
    def column(get):
        return spread([get(r) for r in runs])

    lines = [
        "# bench/ui: the alerts page in the browser",
        "",
        f"Run {meta['date']} on {meta['machine']}: `python -m bench.ui --alerts {meta['alerts']} --runs {len(runs)}`.",
        f"Chromium {meta['chromium']} headless, 1280x800, a fresh context (cold cache) per run; one bridge "
        f"process (API view + UI) on {meta['broker']}. {meta['alerts']:,} active alerts, "
        f"{meta['groups']:,} route groups; GET /api/v2/alerts/groups answers {meta['api_mib']:.1f} MiB "
        f"({meta['api_wire_mib']:.1f} MiB on the wire).",
        "",
        "Milliseconds, median (min–max) of the runs, from navigation start unless said otherwise:",
        "",
        "| what | ms |",
        "| --- | ---: |",
        f"| First Contentful Paint (the page's frame) | {column(lambda r: r['load']['fcp'])} |",
        f"| app.js loaded | {column(lambda r: r['load']['scriptEnd'])} |",
        f"| API request sent | {column(lambda r: r['load']['apiStart'])} |",
        f"| API answer received | {column(lambda r: r['load']['apiEnd'])} |",
        f"| answer rendered (`ui:alerts:first-render`) | {column(lambda r: r['load']['firstRender'])} |",
        f"| **first useful paint** (first alert group painted, Element Timing) | **{column(lambda r: r['load']['firstGroupPaint'])}** |",
        f"| main-thread busy until then (CDP TaskDuration) | {column(lambda r: r['load_task_ms'])} |",
        f"| of which script (CDP ScriptDuration) | {column(lambda r: r['load_script_ms'])} |",
        "",
        "Applying a change, from Enter (or the select's change) to the new answer rendered "
        "(`ui:alerts:filter`: includes the API request; the API's own share is the Resource Timing of it):",
        "",
        "| change | alerts shown | total ms | of which API request ms | main-thread busy ms |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name in ("narrow filter", "broad filter", "no filter", "group by instance"):
        lines.append(f"| {name} | {runs[0][name]['shown']} | **{column(lambda r: r[name]['ms'])}** | "
                     f"{column(lambda r: r[name]['api_ms'])} | {column(lambda r: r[name]['task_ms'])} |")
    lines += [
        "",
        f"Longest main-thread task in a run (Long Tasks API): {column(lambda r: r['longest_task_ms'])} ms. "
        f"JS heap after the first load: {spread([r['load']['heapMiB'] for r in runs])} MiB.",
        "",
        "What else was running (the machine is shared):",
        "",
        f"- load average before: {meta['load_before']}, after: {meta['load_after']} (2 cores)",
        f"- load average at each run: {', '.join(meta['load_runs'])}",
        "- busiest processes over 3 s before the bench started:",
        *[f"  - `{p}`" for p in meta["busy_before"]],
        "- busiest processes over 3 s during a run's filter steps (the bench's own: this bench, its bridge, "
        "Chromium):",
        *[f"  - `{p}`" for p in meta["busy_during"]],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                        help="broker (default $KAFKA_BOOTSTRAP_SERVERS; none: start one of the bench's own)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md as it is")
    args = parser.parse_args(argv)

    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "alerts": args.alerts,
            "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}",
            "load_before": loadavg(), "busy_before": busiest_processes()}
    with ExitStack() as stack:
        # First in, last out: the bridge's pid file lives here, so the directory must outlive it.
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ui-")))
        bootstrap = args.bootstrap
        meta["broker"] = f"the broker at {bootstrap} (shared)" if bootstrap else "a broker of the bench's own"
        if not bootstrap:
            bootstrap = stack.enter_context(own_kafka(work)).bootstrap
        settings = settings_with_topology(bootstrap, "benchui")
        stack.callback(drop_topics_with_prefixes, [(bootstrap, settings.topics.prefix)])
        settings = settings.model_copy(update={"alertmanager_config": write_am_config(work / "am")})
        writer = EnrichedWriter(settings)
        started = time.monotonic()
        write_many(writer, args.alerts)
        print(f"wrote {args.alerts:,} alerts in {time.monotonic() - started:.1f} s", file=sys.stderr)
        bridge = stack.enter_context(running_bridge(settings, OPEN_SOURCES, work / "bridge"))
        groups = wait_for(lambda: get_json(f"{bridge.url}/api/v2/alerts/groups"),
                          lambda g: sum(len(x["alerts"]) for x in g) >= args.alerts, timeout=120, what="alerts")
        meta["groups"] = len(groups)
        browser = stack.enter_context(chromium())
        meta["chromium"] = browser.version
        runs = []
        meta["load_runs"] = []
        for index in range(args.runs):
            meta["load_runs"].append(loadavg().split()[0])
            runs.append(measure(browser, bridge.url, args.alerts))
            load = runs[-1]["load"]
            print(f"run {index + 1}: first useful paint {load['firstGroupPaint']:.0f} ms, "
                  f"narrow filter {runs[-1]['narrow filter']['ms']:.0f} ms", file=sys.stderr)
        meta["api_mib"] = runs[0]["load"]["apiBytes"] / 1048576
        meta["api_wire_mib"] = runs[0]["load"]["apiBytesOnWire"] / 1048576
        meta["busy_during"] = sample_during(browser, bridge.url, args.alerts)
    meta["load_after"] = loadavg()
    text = report(runs, meta)
    print(text)
    if not args.no_write:
        # The measured part is rewritten; the hand-written notes after it (## Notes) are kept.
        old = RESULTS.read_text() if RESULTS.exists() else ""
        notes = old[old.index(NOTES):] if NOTES in old else ""
        RESULTS.write_text(text + ("\n" + notes if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
