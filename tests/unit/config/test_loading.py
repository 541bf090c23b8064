"""What a valid configuration loads into: defaults, global fallbacks, matchers, intervals, helpers."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.alertmanager_config import ConfigFileError, global_resolve_timeout
from pipeline.amconfig import (
    ConfigError,
    InclusiveRange,
    TimeRange,
    check_report,
    check_summary,
    load_config,
    parse_config,
    parse_label_arguments,
    routes_test,
    routes_test_output,
)
from pipeline.matchers import Matcher, MatchType


def parse(text: str):
    return parse_config(textwrap.dedent(text), "am.yml")


def test_minimal_config_gets_alertmanager_defaults():
    config = parse("route: {receiver: r}\nreceivers: [{name: r}]\n")
    g = config.global_config
    assert g.resolve_timeout == timedelta(minutes=5) == config.resolve_timeout
    assert g.get("smtp_hello") == "localhost" and g.get("smtp_require_tls") is True
    assert g.get("pagerduty_url") == "https://events.pagerduty.com/v2/enqueue"
    assert g.get("opsgenie_api_url") == "https://api.opsgenie.com/"
    assert g.get("telegram_api_url") == "https://api.telegram.org"
    assert g.get("webex_api_url") == "https://webexapis.com/v1/messages"
    assert g.http_config == {"follow_redirects": True, "enable_http2": True}
    assert config.route.receiver == "r" and config.route.group_wait is None
    assert config.receivers[0].name == "r" and config.receivers[0].integrations == ()
    assert config.inhibit_rules == () and config.templates == () and dict(config.time_intervals) == {}


def test_global_values_are_kept_for_the_sinks():
    config = parse("""
        global:
          resolve_timeout: 1m30s
          smtp_smarthost: 'mail:25'
          smtp_from: am@example.org
          smtp_auth_username: user
          smtp_auth_password: secret
          slack_api_url: https://hooks.slack.example/x
          http_config:
            bearer_token: tok
        route: {receiver: r}
        receivers:
        - name: r
          email_configs: [{to: ops@example.org}]
          slack_configs: [{channel: '#ops'}]
          webhook_configs: [{url: 'http://hook/'}]
          opsgenie_configs: [{api_key: k, api_url: 'https://og.example/v2'}]
        """)
    assert config.resolve_timeout == timedelta(seconds=90)
    email, slack, webhook, opsgenie = config.receivers[0].integrations
    assert email.kind == "email" and email.list_key == "email_configs" and email.index == 0
    assert email.config["smarthost"] == "mail:25" and email.config["from"] == "am@example.org"
    assert email.config["auth_username"] == "user" and email.config["auth_password"] == "secret"
    assert email.config["hello"] == "localhost" and email.config["require_tls"] is True
    assert email.send_resolved is False
    assert slack.config["api_url"] == "https://hooks.slack.example/x" and slack.send_resolved is False
    # The global http_config (its bearer token turned into an Authorization header) is inherited.
    assert webhook.config["http_config"] == {
        "follow_redirects": True, "enable_http2": True, "authorization": {"type": "Bearer", "credentials": "tok"},
    }
    assert webhook.send_resolved is True and webhook.config["url"] == "http://hook/"
    assert opsgenie.config["api_url"] == "https://og.example/v2/"  # Alertmanager appends the slash
    assert config.receiver("r").of_kind("webhook") == (webhook,)
    with pytest.raises(KeyError):
        config.receiver("nope")


def test_integration_fields_and_defaults():
    config = parse("""
        route: {receiver: r}
        receivers:
        - name: r
          webhook_configs:
          - url: 'http://a/'
            send_resolved: false
            max_alerts: 10
          pagerduty_configs: [{routing_key: k, details: {a: b}, links: [{href: 'http://x', text: t}]}]
          telegram_configs: [{bot_token: t, chat_id: -100}]
          discord_configs: [{webhook_url: 'https://discord.example/api'}]
          webex_configs: [{room_id: r, http_config: {authorization: {credentials: c}}}]
          sns_configs: [{topic_arn: arn, sigv4: {region: eu-west-1}}]
          pushover_configs: [{user_key: u, token: t, retry: 1.5m}]
          victorops_configs: [{routing_key: rk, api_key: k}]
          wechat_configs: [{api_secret: s, corp_id: c}]
        """)
    kinds = [i.kind for i in config.receivers[0].integrations]
    assert kinds == ["webhook", "pagerduty", "telegram", "discord", "webex", "sns", "pushover", "victorops", "wechat"]
    webhook, pagerduty, telegram, discord, webex, sns, pushover, victorops, wechat = config.receivers[0].integrations
    assert webhook.config["send_resolved"] is False and webhook.config["max_alerts"] == 10
    assert pagerduty.config["url"] == "https://events.pagerduty.com/v2/enqueue"
    assert pagerduty.config["links"] == [{"href": "http://x", "text": "t"}]
    assert telegram.config["chat_id"] == -100 and telegram.config["api_url"] == "https://api.telegram.org"
    assert discord.send_resolved is True
    assert webex.config["http_config"]["authorization"] == {"type": "Bearer", "credentials": "c"}
    assert webex.config["api_url"] == "https://webexapis.com/v1/messages"
    assert sns.config["sigv4"] == {"region": "eu-west-1"}
    assert pushover.config["retry"] == "1.5m"
    assert victorops.config["api_url"].endswith("/alert/")
    assert wechat.config["message_type"] == "text"
    assert wechat.config["api_url"] == "https://qyapi.weixin.qq.com/cgi-bin/"


def test_route_config_matchers_are_merged_sorted_and_match_re_anchored():
    config = parse("""
        route:
          receiver: r
          routes:
          - match: {zone: eu}
            match_re: {team: 'a|b'}
            matchers: ['sev=~"crit.*"', 'app!="x"']
        receivers: [{name: r}]
        """)
    child = config.route.routes[0]
    assert list(child.matchers) == [
        Matcher("app", MatchType.NOT_EQUAL, "x"),
        Matcher("sev", MatchType.REGEX, "crit.*"),
        Matcher("team", MatchType.REGEX, "^(?:a|b)$"),
        Matcher("zone", MatchType.EQUAL, "eu"),
    ]
    assert child.path == "route.routes[0]" and child.line == 5


def test_group_by_forms():
    config = parse("""
        route:
          receiver: r
          routes:
          - {group_by: []}
          - {group_by: ['...']}
          - {group_by: ['...', '...']}
          - {group_by: [a, b]}
          - {}
        receivers: [{name: r}]
        """)
    forms = [(c.group_by, c.group_by_all) for c in config.route.routes]
    assert forms == [(None, False), (None, True), (None, True), (("a", "b"), False), (None, False)]


def test_yaml_v2_scalars_merges_and_first_document():
    config = parse("""
        route:
          <<: {receiver: '5', group_wait: 1m}
          group_wait: 2m
          routes:
          - {matchers: [a=b], continue: y, receiver: 5}
          - {matchers: ['c=d'], continue: off}
        receivers: [{name: 5}]
        ---
        ignored: document
        """)
    assert config.route.receiver == "5" and config.route.group_wait == timedelta(minutes=2)
    assert [c.continue_ for c in config.route.routes] == [True, False]


def test_inhibit_rules_merge_old_and_new_matchers():
    config = parse("""
        route: {receiver: r}
        receivers: [{name: r}]
        inhibit_rules:
        - source_match: {severity: critical}
          source_matchers: [alertname=~"Node.*"]
          target_match_re: {severity: 'warning|info'}
          equal: [cluster, instance]
        - null
        """)
    rule, empty = config.inhibit_rules
    assert str(rule.source_matchers) == '{alertname=~"Node.*",severity="critical"}'
    assert str(rule.target_matchers) == '{severity=~"^(?:warning|info)$"}'
    assert rule.equal == ("cluster", "instance") and rule.line == 5
    assert len(empty.source_matchers) == 0 and empty.equal == ()


def test_time_intervals_both_keys_and_contains():
    config = parse("""
        route:
          receiver: r
          routes:
          - {matchers: [a=b], mute_time_intervals: [weekends], active_time_intervals: [office]}
        receivers: [{name: r}]
        mute_time_intervals:
        - name: weekends
          time_intervals: [{weekdays: ['Saturday', 'sunday']}]
        time_intervals:
        - name: office
          time_intervals:
          - times: [{start_time: '09:00', end_time: '17:30'}]
            weekdays: ['monday:friday']
            location: Europe/Berlin
        - name: month_end
          time_intervals:
          - {days_of_month: ['-3:-1'], months: ['january:march', '12'], years: ['2024:2030']}
        - name: never
          time_intervals: [{weekdays: []}]
        - name: always
          time_intervals: [null]
        """)
    intervals = config.time_intervals
    assert set(intervals) == {"weekends", "office", "month_end", "never", "always"}
    assert intervals["weekends"].deprecated_mute_key and not intervals["office"].deprecated_mute_key
    office = intervals["office"].time_intervals[0]
    assert office.times == (TimeRange(540, 1050),) and office.weekdays == (InclusiveRange(1, 5),)
    utc = timezone.utc
    assert intervals["weekends"].contains(datetime(2024, 6, 1, 12, tzinfo=utc))  # a Saturday
    assert not intervals["weekends"].contains(datetime(2024, 6, 3, 12, tzinfo=utc))
    assert intervals["office"].contains(datetime(2024, 6, 3, 7, 0, tzinfo=utc))  # 09:00 in Berlin
    assert not intervals["office"].contains(datetime(2024, 6, 3, 15, 30, tzinfo=utc))  # 17:30 Berlin: end excluded
    assert intervals["month_end"].contains(datetime(2024, 2, 27, tzinfo=utc))  # leap year: 27..29
    assert not intervals["month_end"].contains(datetime(2024, 2, 26, tzinfo=utc))
    assert intervals["month_end"].contains(datetime(2025, 12, 31, tzinfo=utc))
    assert not intervals["month_end"].contains(datetime(2023, 12, 31, tzinfo=utc))
    assert not intervals["never"].contains(datetime(2024, 6, 1, tzinfo=utc))  # an empty list matches nothing
    assert intervals["always"].contains(datetime(2024, 6, 1, tzinfo=utc))
    child = config.route.routes[0]
    assert child.mute_time_intervals == ("weekends",) and child.active_time_intervals == ("office",)


def test_templates_resolve_against_the_file_directory(tmp_path):
    path = tmp_path / "am.yml"
    path.write_text("route: {receiver: r}\nreceivers: [{name: r}]\ntemplates: ['t/*.tmpl', '/abs/x.tmpl']\n")
    config = load_config(path)
    assert config.templates == (str(tmp_path / "t/*.tmpl"), "/abs/x.tmpl")
    assert config.source == str(path)


def test_check_report_is_amtool_found_block():
    config = parse("""
        route: {receiver: r}
        receivers: [{name: r}, {name: s}]
        inhibit_rules: [{}]
        """)
    assert check_summary(config) == ["global config", "route", "1 inhibit rules", "2 receivers", "0 templates"]
    assert check_report(config) == (
        "Found:\n - global config\n - route\n - 1 inhibit rules\n - 2 receivers\n - 0 templates\n"
    )


def test_routes_test_helpers():
    config = parse("""
        route:
          receiver: def
          routes:
          - {matchers: [a="1"], receiver: one, continue: true}
          - {matchers: [a="1"], receiver: one}
        receivers: [{name: def}, {name: one}]
        """)
    assert routes_test(config, {"a": "1"}) == ["one", "one"]
    assert routes_test_output(config, {"a": "1"}) == "one,one"
    assert routes_test_output(config, {}) == "def"


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.yml")
    assert str(tmp_path / "missing.yml") in str(caught.value)
    bad = tmp_path / "bad.yml"
    bad.write_text("route: {receiver: r}\nreceivers: [{name: r}]\nrouting: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert str(caught.value).startswith(f"{bad}:3: routing: field routing not found")


# -- pipeline.alertmanager_config (used by ingest) ----------------------------------------------------


def test_global_resolve_timeout(tmp_path):
    path = tmp_path / "am.yml"
    path.write_text("global: {resolve_timeout: 10s}\nroute: {receiver: r}\nreceivers: [{name: r}]\n")
    assert global_resolve_timeout(path) == timedelta(seconds=10)
    path.write_text("route: {receiver: r}\nreceivers: [{name: r}]\n")
    assert global_resolve_timeout(path) == timedelta(minutes=5)
    path.write_text("global: {resolve_timeout: 0s}\nroute: {receiver: r}\nreceivers: [{name: r}]\n")
    assert global_resolve_timeout(path) == timedelta(0)  # Alertmanager accepts 0


def test_global_resolve_timeout_errors(tmp_path):
    with pytest.raises(ConfigFileError, match="no such Alertmanager configuration file"):
        global_resolve_timeout(tmp_path / "nope.yml")
    path = tmp_path / "am.yml"
    path.write_text("global: {resolve_timeout: soon}\nroute: {receiver: r}\nreceivers: [{name: r}]\n")
    with pytest.raises(ConfigFileError, match="global.resolve_timeout"):
        global_resolve_timeout(path)
    path.write_text("global: [oops\n")
    with pytest.raises(ConfigFileError, match="yaml"):
        global_resolve_timeout(path)


def test_repository_example_config_loads():
    from pipeline.settings import Settings

    config = load_config(Settings().alertmanager_config)
    assert config.route.receiver


def test_parse_label_arguments_like_amtool():
    from pipeline.matchers import MatcherError

    assert parse_label_arguments(["a=1", 'b="x,y"', "a=2", 'q="say \\"hi\\""']) == {
        "a": "2", "b": "x,y", "q": 'say "hi"'}
    assert parse_label_arguments(["a=1,b=2"]) == {"a": "1,b=2"}
    with pytest.raises(MatcherError, match="labels must be specified as key=value pairs"):
        parse_label_arguments(["b=~1"])
    with pytest.raises(MatcherError, match="bad matcher format: b"):
        parse_label_arguments(["b"])
