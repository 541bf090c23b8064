"""pipeline config diff: expected output worked out by hand from the two files of each test.

The reasoning for each expectation is in the test; nothing here is a snapshot of what the code printed.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from pipeline.amconfig import parse_config
from pipeline.amconfig.diff import SECRET_SHOWN, diff_configs, load_and_diff, mask_url
from pipeline.cli import main

RECEIVERS = """
receivers:
  - name: default
  - name: pager
  - name: db-pager
  - name: db-slack
  - name: web
  - name: legacy
"""


def config(text: str, name: str = "am.yml", receivers: str = RECEIVERS):
    return parse_config(textwrap.dedent(text) + (textwrap.dedent(receivers) if receivers else ""), name)


def lines(old: str, new: str, **kwargs) -> list[str]:
    """The change lines of the words (section headings and the first line dropped)."""
    words = diff_configs(config(old, "old.yml", **kwargs), config(new, "new.yml", **kwargs)).words()
    return [line.strip() for line in words.splitlines() if line.startswith("  ")]


OLD = """
global:
  resolve_timeout: 5m
  slack_api_url: https://hooks.slack.com/services/T000/B000/XXXX
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: ['severity="page"']
      receiver: pager
    - matchers: ['team="db"']
      receiver: db-pager
      group_wait: 30s
      routes:
        - matchers: ['env="dev"']
          receiver: default
    - matchers: ['team="legacy"']
      receiver: legacy
      routes:
        - matchers: ['x="1"']
    - matchers: ['team="web"']
      receiver: default
receivers:
  - name: default
  - name: pager
    pagerduty_configs:
      - routing_key: abc-old-key
        severity: error
  - name: db-pager
    webhook_configs:
      - url: http://db.example/hook?token=s3cret-old
  - name: legacy
    email_configs:
      - to: a@example.com
        smarthost: mail:25
        from: am@example.com
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
  - source_matchers: ['alertname="Down"']
    target_matchers: ['alertname="Slow"']
"""

NEW = """
global:
  resolve_timeout: 10m
  slack_api_url: https://hooks.slack.com/services/T000/B000/YYYY
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['team="db"']
      receiver: db-pager
      group_wait: 10s
      routes:
        - matchers: ['env="dev"']
          receiver: default
    - matchers: ['team="api"']
      receiver: pager
    - matchers: ['severity="page"']
      receiver: pager
    - matchers: ['team="web"']
      receiver: default
      routes:
        - matchers: ['x="1"']
          receiver: legacy
receivers:
  - name: default
  - name: pager
    pagerduty_configs:
      - routing_key: abd-new-key
        severity: critical
  - name: db-pager
    webhook_configs:
      - url: http://db.example/hook?token=other-new
  - name: legacy
    email_configs:
      - to: a@example.com
        smarthost: mail:25
        from: am@example.com
inhibit_rules:
  - source_matchers: ['alertname="Down"']
    target_matchers: ['alertname="Slow"']
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service, cluster]
"""


def test_a_realistic_edit_in_words():
    # Worked out by hand:
    # - global: resolve_timeout 5m → 10m; slack_api_url is a SecretURL: only "<secret> changed".
    # - pager: routing_key is a Secret; severity a plain string (JSON-quoted). db-pager: the webhook URL
    #   is treated as a secret (it carries a token).
    # - routes: the root's group_wait 30s → 10s reaches {severity="page"} and {team="web"}, which set none
    #   themselves: one line on the root, "in effect for 2 routes". {team="db"} sets its own 30s → 10s
    #   and its child {env="dev"} inherits it: "in effect for 1 route". {team="db"} moved from index 1 to
    #   0 only because {severity="page"} moved behind it: old order page, db, legacy, web; new order db,
    #   api, page, web; the matched ones in old order have new positions 2, 0, 3: the longest increasing
    #   run is 0, 3 (db, web), so page is the one that moved (0 → 2). {team="legacy"} is gone with its
    #   child; {team="api"} and web's new child {x="1"} are new. The removed legacy route is listed where
    #   it stood: after page (old index 0) and before web (old index 3).
    # - inhibit rules: reordered (no change) and the critical→warning rule's equal gained cluster.
    diff = diff_configs(parse_config(OLD, "old.yml"), parse_config(NEW, "new.yml"))
    assert diff.words() == textwrap.dedent("""\
        old.yml → new.yml:
        global:
          ~ global: resolve_timeout 5m → 10m; slack_api_url: <secret> changed
        receivers:
          ~ receiver "pager": pagerduty_configs[0].routing_key: <secret> changed; pagerduty_configs[0].severity "error" → "critical"
          ~ receiver "db-pager": webhook_configs[0].url: <secret> changed
        routes:
          ~ route → default: group_wait 30s → 10s (in effect for 2 routes that inherit it)
          ~ route.routes[0] {team="db"} → db-pager: was route.routes[1]; group_wait 30s → 10s (in effect for 1 route that inherits it)
          + route.routes[1] {team="api"} → pager: added
          ↕ route.routes[2] {severity="page"} → pager: moved from position 0 to 2 among its siblings (was route.routes[0])
          - route.routes[2] {team="legacy"} → legacy: removed, with 1 child route
          + route.routes[3].routes[0] {x="1"} → legacy: added
        inhibit rules:
          ~ inhibit_rules[1] {severity="critical"} mutes {severity="warning"} with equal [service, cluster]: equal [service] → [service, cluster]
        """)
    for secret in ("XXXX", "YYYY", "abc-old-key", "abd-new-key", "s3cret-old", "other-new"):
        assert secret not in diff.words() and secret not in json.dumps(diff.to_json())
    assert diff.summary() == {"global": {"changed": 1}, "receivers": {"changed": 2},
                              "routes": {"changed": 2, "added": 2, "moved": 1, "removed": 1},
                              "inhibit_rules": {"changed": 1}}


def test_the_effective_configuration_is_compared_not_the_text():
    # Keys reordered, defaults spelled out (group_wait 30s, group_interval 5m, repeat_interval 4h,
    # send_resolved true for webhooks, the default pagerduty URL), match instead of matchers for an
    # equality, the Slack URL moved from global into the integration: Alertmanager sees the same thing.
    old = """
    global:
      slack_api_url: https://hooks.slack.com/services/T/B/X
    route:
      receiver: default
      routes:
        - receiver: web
          match: {team: web}
    receivers:
      - name: default
        webhook_configs: [{url: 'http://hook.example/'}]
        pagerduty_configs: [{routing_key: k}]
      - name: web
        slack_configs: [{channel: '#web'}]
    """
    new = """
    route:
      routes:
        - matchers: ['team="web"']
          receiver: web
          continue: false
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 4h
      receiver: default
    receivers:
      - name: default
        pagerduty_configs: [{routing_key: k, url: 'https://events.pagerduty.com/v2/enqueue'}]
        webhook_configs: [{url: 'http://hook.example/', send_resolved: true}]
      - name: web
        slack_configs: [{channel: '#web', api_url: 'https://hooks.slack.com/services/T/B/X'}]
    global:
      resolve_timeout: 5m
    """
    diff = diff_configs(config(old, receivers=""), config(new, receivers=""))
    # slack_api_url is still set in old's global (a global value, nothing uses it in new): the only change.
    assert lines(old, new, receivers="") == ["~ global: slack_api_url: <secret> removed"]
    assert [c.section for c in diff.changes] == ["global"]


def test_a_sibling_added_in_front_changes_no_other_route():
    old = """
    route:
      receiver: default
      routes:
        - {matchers: ['team="db"'], receiver: db-pager, group_wait: 10s}
        - {matchers: ['team="web"'], receiver: web}
    """
    new = """
    route:
      receiver: default
      routes:
        - {matchers: ['team="new"'], receiver: pager}
        - {matchers: ['team="db"'], receiver: db-pager, group_wait: 10s}
        - {matchers: ['team="web"'], receiver: web}
    """
    # Position ids (route.routes[0] → [1]) change, the routes do not: one line.
    assert lines(old, new) == ['+ route.routes[0] {team="new"} → pager: added']


def test_reordered_siblings_report_the_move_and_nothing_else():
    old = """
    route:
      receiver: default
      routes:
        - {matchers: ['a="1"'], receiver: pager}
        - {matchers: ['b="1"'], receiver: web}
        - {matchers: ['c="1"'], receiver: db-pager}
    """
    new = """
    route:
      receiver: default
      routes:
        - {matchers: ['c="1"'], receiver: db-pager}
        - {matchers: ['a="1"'], receiver: pager}
        - {matchers: ['b="1"'], receiver: web}
    """
    # New positions in old order (a, b, c): 1, 2, 0 → a and b keep their order, c moved 2 → 0.
    assert lines(old, new) == [
        '↕ route.routes[0] {c="1"} → db-pager: moved from position 2 to 0 among its siblings (was route.routes[2])']


def test_siblings_with_equal_matchers_keep_their_partners_by_receiver():
    # A continue fan-out: the same matchers to two receivers. A third is added in front, and the slack
    # one changes its group_wait. Pairing by position would call the pager route changed to slack.
    old = """
    route:
      receiver: default
      routes:
        - {matchers: ['team="db"'], receiver: db-pager, continue: true}
        - {matchers: ['team="db"'], receiver: db-slack, group_wait: 1m}
    """
    new = """
    route:
      receiver: default
      routes:
        - {matchers: ['team="db"'], receiver: web, continue: true}
        - {matchers: ['team="db"'], receiver: db-pager, continue: true}
        - {matchers: ['team="db"'], receiver: db-slack, group_wait: 2m}
    """
    assert lines(old, new) == [
        '+ route.routes[0] {team="db"} → web: added',
        '~ route.routes[2] {team="db"} → db-slack: was route.routes[1]; group_wait 1m → 2m',
    ]


def test_a_route_with_new_matchers_is_another_route_and_a_changed_receiver_is_a_change():
    old = """
    route:
      receiver: default
      routes:
        - {matchers: ['team="db"'], receiver: db-pager, group_by: [alertname]}
        - {matchers: ['team="web"'], receiver: web}
    """
    new = """
    route:
      receiver: default
      routes:
        - {matchers: ['team="db"'], receiver: db-slack, group_by: [alertname, instance], continue: true}
        - {matchers: ['team=~"web|api"'], receiver: web}
    """
    assert lines(old, new) == [
        '~ route.routes[0] {team="db"} → db-slack: receiver db-pager → db-slack; '
        'group_by [alertname] → [alertname, instance]; continue false → true',
        '+ route.routes[1] {team=~"web|api"} → web: added',
        '- route.routes[1] {team="web"} → web: removed',
    ]


def test_an_inherited_receiver_change_is_said_once_on_the_route_that_sets_it():
    old = """
    route:
      receiver: default
      routes:
        - matchers: ['team="db"']
          receiver: db-pager
          routes:
            - matchers: ['env="prod"']
              group_wait: 5s
            - matchers: ['env="dev"']
    """
    new = old.replace("receiver: db-pager", "receiver: db-slack")
    # Both children inherit the receiver; their names show the new effective receiver.
    assert lines(old, new) == [
        '~ route.routes[0] {team="db"} → db-slack: receiver db-pager → db-slack (in effect for 2 routes that inherit it)']
    # A child that starts inheriting a value it used to set says so.
    newer = old.replace("              group_wait: 5s\n", "")
    assert lines(old, newer) == [
        '~ route.routes[0].routes[0] {env="prod"} → db-pager: group_wait 5s → 30s (inherited)']


def test_a_route_moved_under_another_parent_is_a_relocation():
    old = """
    route:
      receiver: default
      routes:
        - matchers: ['severity="page"']
          receiver: pager
        - matchers: ['team="db"']
          receiver: db-pager
    """
    new = """
    route:
      receiver: default
      routes:
        - matchers: ['team="db"']
          receiver: db-pager
          routes:
            - matchers: ['severity="page"']
              receiver: pager
    """
    assert lines(old, new) == [
        '↕ route.routes[0].routes[0] {severity="page"} → pager: moved from route.routes[0] to '
        'route.routes[0].routes[0]; its route key changes, so its aggregation groups start anew']


def test_root_timers_and_time_intervals():
    old = """
    time_intervals:
      - name: weekends
        time_intervals: [{weekdays: ['saturday', 'sunday']}]
      - name: nights
        time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}]
    route:
      receiver: default
      repeat_interval: 4h
      routes:
        - {matchers: ['team="db"'], receiver: db-pager, mute_time_intervals: [weekends]}
    """
    new = """
    time_intervals:
      - name: weekends
        time_intervals: [{weekdays: ['saturday', 'sunday']}]
      - name: holidays
        time_intervals: [{days_of_month: ['25'], months: ['december']}]
    route:
      receiver: default
      repeat_interval: 12h
      routes:
        - {matchers: ['team="db"'], receiver: db-pager, mute_time_intervals: [weekends, holidays]}
    """
    # Intervals by name (sorted): holidays new, nights gone, weekends the same. Months print as numbers
    # (Alertmanager's marshalled form). The db route inherits repeat_interval: one line, on the root.
    assert lines(old, new) == [
        '+ time interval "holidays": added, [{"days_of_month": ["25"], "months": ["12"]}]',
        '- time interval "nights": removed, [{"times": [{"end_time": "06:00", "start_time": "00:00"}]}]',
        '~ route → default: repeat_interval 4h → 12h (in effect for 1 route that inherits it)',
        '~ route.routes[0] {team="db"} → db-pager: mute_time_intervals [weekends] → [weekends, holidays]',
    ]


def test_time_interval_entries_compare_as_parsed_ranges():
    base = """
    time_intervals:
      - name: work
        time_intervals: [{weekdays: [%s]}]
    route: {receiver: default}
    """
    assert lines(base % "'monday:friday'", base % "'Monday:FRIDAY'") == []  # case does not matter
    assert lines(base % "'monday:friday'", base % "'monday'") == [
        '~ time interval "work": time_intervals [{"weekdays": ["monday:friday"]}] → [{"weekdays": ["monday"]}]']


def test_receivers_added_removed_renamed_and_integrations():
    old = """
    route: {receiver: a}
    receivers:
      - name: a
        webhook_configs: [{url: 'http://a.example/'}]
      - name: old-name
        email_configs: [{to: x@example.com, from: am@example.com, smarthost: 'mail:25'}]
      - name: gone
    """
    new = """
    route: {receiver: a}
    receivers:
      - name: a
        webhook_configs: [{url: 'http://a.example/', max_alerts: 10}, {url: 'http://b.example/'}]
        opsgenie_configs: [{api_key: k1, http_config: {basic_auth: {username: u, password: p1}}}]
      - name: new-name
        email_configs: [{to: x@example.com, from: am@example.com, smarthost: 'mail:25'}]
      - name: fresh
        slack_configs: [{channel: '#x', api_url: 'https://hooks.slack.com/services/T/B/Z'}]
    """
    assert lines(old, new, receivers="") == [
        '- receiver "gone": removed, no integrations',
        '~ receiver "a": webhook_configs[0].max_alerts set to 10; webhook_configs[1] added; opsgenie_configs[0] added',
        '~ receiver "new-name": renamed, was "old-name", same integrations',
        '+ receiver "fresh": added, slack_configs ×1',
    ]


def test_secrets_never_appear_and_urls_are_masked():
    old = """
    route: {receiver: a}
    receivers:
      - name: a
        opsgenie_configs:
          - api_key: opsgenie-key-1
            http_config:
              basic_auth: {username: u, password: basic-pass-1}
              proxy_url: 'http://proxyuser:proxy-pass-1@proxy.example:3128'
        telegram_configs: [{bot_token: tg-token-1, chat_id: 1}]
    """
    new = (old.replace("opsgenie-key-1", "opsgenie-key-2").replace("basic-pass-1", "basic-pass-2")
           .replace("proxy-pass-1", "proxy-pass-2").replace("tg-token-1", "tg-token-2"))
    diff = diff_configs(config(old, receivers=""), config(new, receivers=""))
    text, as_json = diff.words(), json.dumps(diff.to_json())
    for secret in ("opsgenie-key", "basic-pass", "proxy-pass", "tg-token"):
        assert secret not in text and secret not in as_json
    assert lines(old, new, receivers="") == [
        '~ receiver "a": opsgenie_configs[0].api_key: <secret> changed; '
        'opsgenie_configs[0].http_config.basic_auth.password: <secret> changed; '
        'opsgenie_configs[0].http_config.proxy_url "http://proxyuser:<secret>@proxy.example:3128" → '
        '"http://proxyuser:<secret>@proxy.example:3128" (its <secret> part changed); '
        'telegram_configs[0].bot_token: <secret> changed']
    fields = diff.changes[0].to_json()["fields"]
    assert fields[0] == {"field": "opsgenie_configs[0].api_key", "old": SECRET_SHOWN, "new": SECRET_SHOWN,
                         "secret": True}


def test_mask_url():
    assert mask_url("https://h.example/p?token=x#frag") == "https://h.example/p?<secret>#<secret>"
    assert mask_url("http://user:pw@h.example:80/") == "http://user:<secret>@h.example:80/"
    assert mask_url("http://token@h.example/") == "http://<secret>@h.example/"
    assert mask_url("https://h.example/plain") == "https://h.example/plain"


def test_inhibit_rules_compare_as_a_set():
    old = """
    route: {receiver: default}
    inhibit_rules:
      - {source_matchers: ['a="1"'], target_matchers: ['b="1"'], equal: [x, y]}
      - {source_matchers: ['c="1"'], target_matchers: ['d="1"']}
    """
    reordered = """
    route: {receiver: default}
    inhibit_rules:
      - {source_matchers: ['c="1"'], target_matchers: ['d="1"']}
      - {source_matchers: ['a="1"'], target_matchers: ['b="1"'], equal: [y, x]}
    """
    assert lines(old, reordered) == []
    changed = """
    route: {receiver: default}
    inhibit_rules:
      - {source_match: {a: "1"}, target_matchers: ['b="2"'], equal: [x, y]}
    """
    assert lines(old, changed) == [
        '- inhibit_rules[0] {a="1"} mutes {b="1"} with equal [x, y]: removed',
        '- inhibit_rules[1] {c="1"} mutes {d="1"}: removed',
        '+ inhibit_rules[0] {a="1"} mutes {b="2"} with equal [x, y]: added',
    ]


def test_templates_by_pattern_and_file_contents(tmp_path):
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    for directory, body in ((old_dir, "one"), (new_dir, "two")):
        (directory / "tmpl").mkdir(parents=True)
        (directory / "tmpl" / "a.tmpl").write_text('{{ define "a" }}%s{{ end }}' % body)
        (directory / "tmpl" / "same.tmpl").write_text("same")
    (new_dir / "tmpl" / "b.tmpl").write_text("new file")
    (old_dir / "am.yml").write_text("templates: ['tmpl/*.tmpl']\nroute: {receiver: r}\nreceivers: [{name: r}]\n")
    (new_dir / "am.yml").write_text("templates: ['tmpl/*.tmpl', 'extra/*.tmpl']\n"
                                    "route: {receiver: r}\nreceivers: [{name: r}]\n")
    diff = load_and_diff(old_dir / "am.yml", new_dir / "am.yml")
    assert [c.words() for c in diff.changes] == [
        'template pattern "extra/*.tmpl": added',
        'template file "tmpl/a.tmpl": contents changed',
        'template file "tmpl/b.tmpl": added',
    ]


# --- the command -------------------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    old, new = tmp_path / "old.yml", tmp_path / "new.yml"
    old.write_text(OLD)
    new.write_text(NEW)
    return old, new


def test_cli_exit_codes_and_json(files, tmp_path):
    old, new = files
    runner = CliRunner()
    same = runner.invoke(main, ["config", "diff", str(old), str(old)])
    assert same.exit_code == 0 and same.output.startswith("no changes between")
    changed = runner.invoke(main, ["config", "diff", str(old), str(new)])
    assert changed.exit_code == 1
    assert '~ route.routes[0] {team="db"} → db-pager: was route.routes[1]; group_wait 30s → 10s' in changed.output
    as_json = runner.invoke(main, ["config", "diff", "--format", "json", str(old), str(new)])
    assert as_json.exit_code == 1
    document = json.loads(as_json.output)
    assert document["changed"] is True and document["summary"]["routes"] == {
        "changed": 2, "added": 2, "moved": 1, "removed": 1}
    moved = next(c for c in document["changes"] if c["kind"] == "moved")
    assert moved == {"section": "routes", "kind": "moved", "subject": 'route.routes[2] {severity="page"} → pager',
                     "path": "route.routes[2]", "old_path": "route.routes[0]",
                     "detail": "moved from position 0 to 2 among its siblings (was route.routes[0])", "fields": []}
    assert "abc-old-key" not in as_json.output


def test_cli_error_is_exit_2_with_the_loader_message(files, tmp_path):
    old, _ = files
    bad = tmp_path / "bad.yml"
    bad.write_text("route:\n  receiver: nobody\nreceivers: [{name: r}]\n")
    result = CliRunner().invoke(main, ["config", "diff", str(old), str(bad)])
    assert result.exit_code == 2
    assert f'{bad}:2: route: undefined receiver "nobody" used in route' in result.output
    missing = CliRunner().invoke(main, ["config", "diff", str(old), str(tmp_path / "none.yml")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_templates_given_relative_paths_compare_by_pattern(tmp_path, monkeypatch):
    # `pipeline config diff a/am.yml b/am.yml` from the parent directory: the loader joins each pattern
    # to its file's (relative) directory; the same pattern in both is no change.
    for name in ("a", "b"):
        (tmp_path / name / "t").mkdir(parents=True)
        (tmp_path / name / "t" / "x.tmpl").write_text("same")
        (tmp_path / name / "am.yml").write_text("templates: ['t/*.tmpl']\nroute: {receiver: r}\nreceivers: [{name: r}]\n")
    monkeypatch.chdir(tmp_path)
    assert not load_and_diff("a/am.yml", "b/am.yml")
    (tmp_path / "b" / "t" / "x.tmpl").write_text("changed")
    assert [c.words() for c in load_and_diff("a/am.yml", "b/am.yml").changes] == [
        'template file "t/x.tmpl": contents changed']
