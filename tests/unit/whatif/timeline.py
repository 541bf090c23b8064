"""The hand-worked timeline of the what-if tests (unit and integration): two configurations, five alerts.

CURRENT routes team="db" to db and team="web" to web, grouped by alertname (group_wait 30s,
group_interval 5m). CANDIDATE
  (a) adds a route severity="page" → pager in front, with continue: true,
  (b) changes the web route's group_by to [alertname, instance],
  (c) adds an inhibit rule: DbDown mutes DbSlow with equal [cluster].

Every alert is sent once with no endsAt: normalize gives it endsAt = received + resolve_timeout (5m),
dedup resolves it then. Times are seconds after the window's start T0:

     0  DbDown  {team=db,  cluster=c1, instance=db1, severity=page}     P0
    10  DbSlow  {team=db,  cluster=c1, instance=db2, severity=warning}  P2   (candidate: inhibited by DbDown)
    15  DbSlow  {team=db,  cluster=c2, instance=db9, severity=warning}  P2   (other cluster: never inhibited)
    20  WebErr  {team=web, instance=w1, severity=warning}               P2
    25  WebErr  {team=web, instance=w2, severity=warning}               P2
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline import wire
from pipeline.models import RawAlert

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
END = T0 + timedelta(minutes=20)

CURRENT = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['team="db"']
      receiver: db
    - matchers: ['team="web"']
      receiver: web
receivers:
  - name: default
    webhook_configs: [{url: "http://127.0.0.1:1/default"}]
  - name: db
    webhook_configs: [{url: "http://127.0.0.1:1/db"}]
  - name: web
    webhook_configs: [{url: "http://127.0.0.1:1/web"}]
"""

CANDIDATE = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
    - matchers: ['team="db"']
      receiver: db
    - matchers: ['team="web"']
      receiver: web
      group_by: [alertname, instance]
inhibit_rules:
  - source_matchers: ['alertname="DbDown"']
    target_matchers: ['alertname="DbSlow"']
    equal: [cluster]
receivers:
  - name: default
    webhook_configs: [{url: "http://127.0.0.1:1/default"}]
  - name: db
    webhook_configs: [{url: "http://127.0.0.1:1/db"}]
  - name: web
    webhook_configs: [{url: "http://127.0.0.1:1/web"}]
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:1/pager"}]
"""

RULES = """
classification:
  severity_label: severity
  severity_priorities: {page: P0, warning: P2}
  labels: {priority: priority, category: null, team: null, auto_incident: null}
  defaults: {priority: P3}
"""

ALERTS = [
    (0, {"alertname": "DbDown", "team": "db", "cluster": "c1", "instance": "db1", "severity": "page"}),
    (10, {"alertname": "DbSlow", "team": "db", "cluster": "c1", "instance": "db2", "severity": "warning"}),
    (15, {"alertname": "DbSlow", "team": "db", "cluster": "c2", "instance": "db9", "severity": "warning"}),
    (20, {"alertname": "WebErr", "team": "web", "instance": "w1", "severity": "warning"}),
    (25, {"alertname": "WebErr", "team": "web", "instance": "w2", "severity": "warning"}),
]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def raw_alert(labels: dict[str, str], received: datetime) -> bytes:
    return wire.encode(RawAlert(labels=labels, source="test", source_format="direct", received_at=received))


# The expected difference, worked out by hand from the table above (X@t: sent at T0+t).
#
# CURRENT sends
#   db:  DbDown@30 [db1 firing]; DbSlow@40 [db2, db9 firing] (one group: group_by alertname);
#        DbDown@330 [db1 resolved] (resolved at 300 by resolve_timeout, sent at the group_interval tick
#        30+5m); DbSlow@340 [db2, db9 resolved] (resolved at 310 and 315, tick 40+5m)
#   web: WebErr@50 [w1, w2 firing]; WebErr@350 [w1, w2 resolved]
# CANDIDATE sends
#   pager: DbDown@30 [db1 firing], DbDown@330 [db1 resolved] (the new route; db keeps its copy: continue)
#   db:  DbDown@30, DbDown@330 as before (the route's identity and group key survive the new sibling);
#        DbSlow@40 [db9 firing] only: db2 is inhibited (DbDown of cluster c1 fires);
#        DbSlow@340 [db2, db9 resolved]: DbDown resolved at 300, so db2 is no longer inhibited, and the
#        group had notified db9 firing, so the resolved notification goes with both alerts
#   web: one group per instance: WebErr@50 [w1], WebErr@55 [w2], WebErr@350 [w1 resolved],
#        WebErr@355 [w2 resolved]
# so the diff is
#   pager: 0 → 2, 2 added
#   db:    4 → 4, 3 unchanged (DbDown@30, DbDown@330, DbSlow@340), 1 changed (DbSlow@40: db2 gone, "alerts")
#   web:   2 → 4, 2 removed (the old group key), 4 added (the new ones)
#   inhibited: 1 new (DbSlow db2); silenced: none
#   pages: lost DbSlow db2 to db (P2); gained DbDown to pager (P0)
EXPECTED_RECEIVERS = {
    # receiver: (current, candidate, added, removed, changed, unchanged)
    "pager": (0, 2, 2, 0, 0, 0),
    "db": (4, 4, 0, 0, 1, 3),
    "web": (2, 4, 4, 2, 0, 0),
}
