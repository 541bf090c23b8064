"""Alertmanager's acceptance scenarios (test/with_api_v2/acceptance/*.go) as data, and their checker.

Every scenario runs in one pipeline at the same time, isolated by a `scenario` label: each gets its
own route (matching that label) and receiver, its inhibit rules and silences match the label too.
Times are seconds from a shared start; pushes and silence changes happen at their times; a scenario
passes when every expected window holds a notification with exactly the expected alerts and no other
notification arrives before its last window ends (Alertmanager's harness rules, with our tolerance).
The expected batches are Alertmanager's own, copied from its Go tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

TOLERANCE = 0.5  # seconds; Alertmanager's harness uses 0.15 against its in-process binary
GLOBAL_RESOLVE_TIMEOUT = "10s"
WARMUP_PATH = "/warmup/0"  # TestResolved's; no other scenario lives long enough to notice it


@dataclass(frozen=True)
class TestAlert:
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...] = ()
    starts: float | None = None
    ends: float | None = None

    __test__ = False

    def active(self, starts: float, ends: float | None = None) -> TestAlert:
        return TestAlert(self.labels, self.annotations, starts, ends)

    def annotate(self, name: str, value: str) -> TestAlert:
        return TestAlert(self.labels, tuple(sorted({**dict(self.annotations), name: value}.items())),
                         self.starts, self.ends)

    def in_scenario(self, scenario: str) -> TestAlert:
        return TestAlert(tuple(sorted({**dict(self.labels), "scenario": scenario}.items())), self.annotations,
                         self.starts, self.ends)

    def payload(self, base: float) -> dict[str, Any]:
        """POST /api/v2/alerts form."""
        body: dict[str, Any] = {"labels": dict(self.labels), "annotations": dict(self.annotations)}
        if self.starts is not None:
            body["startsAt"] = iso(base + self.starts)
        if self.ends is not None:
            body["endsAt"] = iso(base + self.ends)
        return body


def alert(*pairs: str) -> TestAlert:
    return TestAlert(tuple(sorted(zip(pairs[::2], pairs[1::2], strict=True))))


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SilenceChange:
    """Set (or, with ``delete``, expire) a silence at ``at``: active from ``starts`` to ``ends``."""

    at: float
    name: str
    starts: float
    ends: float
    matchers: tuple[tuple[str, str, bool], ...]  # (label, value, is_regex)
    delete: bool = False


@dataclass(frozen=True)
class Hook:
    send_resolved: bool = True


@dataclass
class Scenario:
    name: str
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str
    pushes: list[tuple[float, list[TestAlert]]]
    wants: dict[int | str, list[tuple[float, float, list[TestAlert]]]]  # hook index or child name -> windows
    hooks: tuple[Hook, ...] = (Hook(),)
    # Child routes under the scenario's route: (matchers, continue); child i delivers to hook "child<i>".
    children: tuple[tuple[tuple[str, ...], bool], ...] = ()
    inhibit: list[dict[str, Any]] = field(default_factory=list)
    silences: list[SilenceChange] = field(default_factory=list)
    approximate_times: bool = False  # startsAt/endsAt set by the receiver (now, resolve_timeout)

    @property
    def receiver(self) -> str:
        return f"scenario-{self.name}"

    def path(self, hook: int | str) -> str:
        return f"/{self.name}/{hook}"

    def end(self) -> float:
        return max(end for windows in self.wants.values() for _, end, _ in windows)


def config_yaml(scenarios: list[Scenario], webhook_base: str) -> str:
    """One Alertmanager configuration holding every scenario, each behind its own route."""
    import yaml

    # The warm-up route: one alert through every stage and the sink before the clock starts, so the
    # first scenario's pushes do not pay for producers and connections being set up.
    routes = [{"matchers": ['scenario="warmup"'], "receiver": "warmup", "group_wait": "0s", "group_interval": "1h"}]
    receivers = [{"name": "unrouted"}, {"name": "warmup", "webhook_configs": [{"url": webhook_base + WARMUP_PATH}]}]
    inhibit_rules = []
    for s in scenarios:
        route = {"matchers": [f'scenario="{s.name}"'], "receiver": s.receiver, "group_by": list(s.group_by),
                 "group_wait": s.group_wait, "group_interval": s.group_interval, "repeat_interval": s.repeat_interval}
        receivers.append({"name": s.receiver, "webhook_configs": [
            {"url": webhook_base + s.path(i), "send_resolved": hook.send_resolved} for i, hook in enumerate(s.hooks)]})
        if s.children:
            route["routes"] = []
            for i, (matchers, continue_) in enumerate(s.children):
                route["routes"].append({"matchers": list(matchers), "receiver": f"{s.receiver}-child{i}",
                                        "continue": continue_})
                receivers.append({"name": f"{s.receiver}-child{i}",
                                  "webhook_configs": [{"url": webhook_base + s.path(f"child{i}")}]})
        routes.append(route)
        for rule in s.inhibit:
            inhibit_rules.append({
                "source_matchers": [*rule["source"], f'scenario="{s.name}"'],
                "target_matchers": [*rule["target"], f'scenario="{s.name}"'],
                "equal": rule["equal"]})
    return yaml.safe_dump({
        "global": {"resolve_timeout": GLOBAL_RESOLVE_TIMEOUT},
        "route": {"receiver": "unrouted", "routes": routes},
        "receivers": receivers, "inhibit_rules": inhibit_rules}, sort_keys=False)


# -- what arrived -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Seen:
    at: float                              # seconds from the start
    alerts: list[tuple[tuple, tuple, float, float | None]]  # labels, annotations, starts, ends


def seen_from_webhook(received: float, body: dict[str, Any], base: float) -> Seen:
    def rel(text: str) -> float | None:
        if text.startswith("0001-01-01"):
            return None
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() - base

    alerts = [(tuple(sorted(a["labels"].items())), tuple(sorted(a.get("annotations", {}).items())),
               rel(a["startsAt"]), rel(a["endsAt"])) for a in body["alerts"]]
    return Seen(received - base, alerts)


def _same_alert(got, want: TestAlert, scenario: Scenario) -> bool:
    labels, annotations, starts, ends = got
    precision = TOLERANCE if scenario.approximate_times else 0.05
    if labels != want.labels or annotations != want.annotations:
        return False
    if want.starts is None or starts is None or abs(starts - want.starts) > precision:
        return False
    if (ends is None) != (want.ends is None):
        return False
    return ends is None or abs(ends - want.ends) <= precision


def _same_batch(seen: Seen, want: list[TestAlert], scenario: Scenario) -> bool:
    if len(seen.alerts) != len(want):
        return False
    remaining = list(want)
    for got in seen.alerts:
        match = next((w for w in remaining if _same_alert(got, w, scenario)), None)
        if match is None:
            return False
        remaining.remove(match)
    return True


def check(scenario: Scenario, hook: int, seen: list[Seen]) -> list[str]:
    """Alertmanager's collector check: every window has its batch, nothing else arrived."""
    windows = [(s, e, [a.in_scenario(scenario.name) for a in batch]) for s, e, batch in scenario.wants[hook]]
    last = scenario.end() + TOLERANCE
    problems = []
    for start, end, batch in windows:
        if batch and not any(start - TOLERANCE <= s.at <= end + TOLERANCE and _same_batch(s, batch, scenario)
                             for s in seen):
            problems.append(f"{scenario.name}/{hook}: no notification in [{start}, {end}] with {describe(batch)}")
    for s in seen:
        if s.at > last:
            continue
        if not any(start - TOLERANCE <= s.at <= end + TOLERANCE and batch and _same_batch(s, batch, scenario)
                   for start, end, batch in windows):
            problems.append(f"{scenario.name}/{hook}: unexpected notification at {s.at:.2f}: {s.alerts}")
    return problems


def describe(batch: list[TestAlert]) -> str:
    return "; ".join(f"{dict(a.labels)} {dict(a.annotations) or ''} {a.starts}-{a.ends}" for a in batch)


def silence_record(change: SilenceChange, scenario: Scenario, base: float, now: datetime):
    from pipeline.models import Matcher, Silence

    matchers = [Matcher(name=n, value=v, is_regex=r) for n, v, r in change.matchers]
    matchers.append(Matcher(name="scenario", value=scenario.name))
    ends = now if change.delete else datetime.fromtimestamp(base + change.ends, timezone.utc)
    return Silence(id=f"{scenario.name}-{change.name}", matchers=matchers,
                   starts_at=datetime.fromtimestamp(base + change.starts, timezone.utc),
                   ends_at=max(ends, datetime.fromtimestamp(base + change.starts, timezone.utc)),
                   updated_at=now, created_by="acceptance", comment=scenario.name)


# -- the scenarios ------------------------------------------------------------------------------

def _batching() -> Scenario:
    t = {n: alert("alertname", n) for n in ("test1", "test2", "test3", "test4", "test5")}
    five = [t["test1"].active(1), t["test5"].active(1), t["test2"].active(1.5), t["test3"].active(1.5),
            t["test4"].active(1.6)]
    return Scenario(
        "batching", (), "1s", "1s", "4900ms",
        pushes=[(1.1, [t["test1"].active(1)]), (1.7, [t["test5"].active(1)]),
                (3.3, [t["test2"].active(1.5), t["test3"].active(1.5), t["test4"].active(1.6)])],
        wants={0: [(2, 2.5, [t["test1"].active(1), t["test5"].active(1)]), (4.1, 4.5, five), (9.1, 9.5, five)]})


def _repeat() -> Scenario:
    test = alert("alertname", "test")
    return Scenario(
        "repeat", ("alertname",), "1s", "1s", "1ms",
        pushes=[(1, [test.active(1)]), (3.5, [test.active(1, 3)])],
        wants={0: [(2, 2.5, [test.active(1)]), (3, 3.5, [test.active(1)]), (4, 4.5, [test.active(1, 3)])]})


def _resolved() -> Scenario:
    v = [alert("alertname", "test", "lbl", f"v{i}") for i in (1, 2, 3)]
    return Scenario(
        "resolved", ("alertname",), "1s", "5s", "4h",
        pushes=[(1, v)],
        wants={0: [(2, 2.5, [a.active(1) for a in v]), (12, 13, [a.active(1, 11) for a in v])]},
        approximate_times=True)


def _resolved_filter() -> Scenario:
    v1, v2, v3 = (alert("alertname", "test", "lbl", f"v{i}") for i in (1, 2, 3))
    return Scenario(
        "resolved_filter", ("alertname",), "1s", "5s", "4h",
        hooks=(Hook(send_resolved=True), Hook(send_resolved=False)),
        pushes=[(1, [v1, v2]), (3, [v1.active(1, 4), v3]), (8, [v3.active(3)])],
        wants={
            0: [(2, 2.5, [v1.active(1), v2.active(1)]),
                (7, 7.5, [v1.active(1, 4), v2.active(1), v3.active(3)]),
                (12, 12.5, [v2.active(1, 11), v3.active(3)])],
            1: [(2, 2.5, [v1.active(1), v2.active(1)]),
                (7, 7.5, [v2.active(1), v3.active(3)])],
        },
        approximate_times=True)


def _merge() -> Scenario:
    test = alert("alertname", "test")
    return Scenario(
        "merge", ("alertname",), "1s", "1s", "1ms",
        pushes=[(1, [test.active(1.1)]), (1.2, [test.active(1)]), (2.1, [test.annotate("ann", "v1").active(2)]),
                (3.6, [test.annotate("ann", "v2").active(1.5)]), (4.6, [test.annotate("ann", "v2").active(3, 4.5)]),
                (4.8, [test.annotate("ann", "v3").active(2.9, 4.8), test.annotate("ann", "v3").active(2.9, 4.1)]),
                (5.3, [test.active(5)])],
        wants={0: [(2, 2.5, [test.active(1)]), (3, 3.5, [test.annotate("ann", "v1").active(1)]),
                   (4, 4.5, [test.annotate("ann", "v2").active(1)]),
                   (5, 5.5, [test.annotate("ann", "v3").active(1, 4.8)]), (6, 6.5, [test.active(5)])]})


JOB_DOWN_RULE = {"source": ['alertname="JobDown"'], "target": ['alertname="InstanceDown"'], "equal": ["job", "zone"]}


def _inhibiting() -> Scenario:
    test1 = alert("alertname", "test1", "job", "testjob", "zone", "aa")
    inst_aa = alert("alertname", "InstanceDown", "job", "testjob", "zone", "aa")
    inst_ab = alert("alertname", "InstanceDown", "job", "testjob", "zone", "ab")
    job_aa = alert("alertname", "JobDown", "job", "testjob", "zone", "aa")
    return Scenario(
        "inhibiting", (), "1s", "1s", "1s", inhibit=[JOB_DOWN_RULE],
        pushes=[(1, [test1.active(1), inst_aa.active(1), inst_ab.active(1)]), (2.2, [job_aa.active(2.2)]),
                (3.6, [job_aa.active(2.2, 3.6)])],
        wants={0: [(2, 2.5, [test1.active(1), inst_aa.active(1), inst_ab.active(1)]),
                   (3, 3.5, [test1.active(1), inst_ab.active(1), job_aa.active(2.2)]),
                   (4, 4.5, [test1.active(1), inst_aa.active(1), inst_ab.active(1), job_aa.active(2.2, 3.6)])]})


def _always_inhibiting() -> Scenario:
    inst = alert("alertname", "InstanceDown", "job", "testjob", "zone", "aa")
    job = alert("alertname", "JobDown", "job", "testjob", "zone", "aa")
    return Scenario(
        "always_inhibiting", (), "1s", "1s", "1s", inhibit=[JOB_DOWN_RULE],
        pushes=[(1, [inst.active(1), job.active(1)]), (2.6, [job.active(1, 2.6), inst.active(1, 2.6)])],
        wants={0: [(2, 2.5, [job.active(1)]), (3, 3.5, [inst.active(1, 2.6), job.active(1, 2.6)])]})


def _silencing() -> Scenario:
    t1, t2 = alert("alertname", "test1"), alert("alertname", "test2")
    return Scenario(
        "silencing", (), "1s", "1s", "1ms",
        pushes=[(1, [t1.active(1), t2.active(1)])],
        silences=[SilenceChange(2.3, "s", 2.5, 4.5, (("alertname", "test1", False),))],
        wants={0: [(2, 2.5, [t1.active(1), t2.active(1)]), (3, 3.5, [t2.active(1)]), (4, 4.5, [t2.active(1)]),
                   (5, 5.5, [t1.active(1), t2.active(1)])]})


def _silence_delete() -> Scenario:
    t1, t2 = alert("alertname", "test1"), alert("alertname", "test2")
    everything = (("alertname", ".+", True),)
    return Scenario(
        "silence_delete", (), "1s", "1s", "1ms",
        pushes=[(1, [t1.active(1), t2.active(1)])],
        silences=[SilenceChange(1.3, "s", 1.5, 100, everything), SilenceChange(3.5, "s", 1.5, 100, everything, delete=True)],
        wants={0: [(3.5, 4.5, [t1.active(1), t2.active(1)])]})


def _routes_continue() -> Scenario:
    # Not one of Alertmanager's acceptance tests: routes with continue, for the differential test.
    both = alert("alertname", "Both", "team", "a", "severity", "page")
    first = alert("alertname", "First", "team", "a")
    parent = alert("alertname", "Parent", "team", "b")
    return Scenario(
        "routes_continue", ("alertname",), "1s", "1s", "1h",
        children=((('team="a"',), True), (('severity="page"',), False)),
        pushes=[(1, [both.active(1), first.active(1), parent.active(1)])],
        wants={"child0": [(2, 2.5, [both.active(1)]), (2, 2.5, [first.active(1)])],
               "child1": [(2, 2.5, [both.active(1)])],
               0: [(2, 2.5, [parent.active(1)])]})


def all_scenarios() -> list[Scenario]:
    return [_batching(), _repeat(), _resolved(), _resolved_filter(), _merge(), _inhibiting(),
            _always_inhibiting(), _silencing(), _silence_delete(), _routes_continue()]


