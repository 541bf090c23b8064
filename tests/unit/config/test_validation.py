"""Configurations Alertmanager 0.25 refuses are refused, each error naming the key path and the line.

The reasons are Alertmanager's own wording (checked against amtool check-config 0.25)."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.amconfig import ConfigError, parse_config

OK_TAIL = "receivers: [{name: x}, {name: y}]\n"


def refuse(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "am.yml")
    return caught.value


# (configuration, reason, key path, line)
CASES = [
    # -- top level, YAML
    ("route: {receiver: x}\nreceivers: [{name: x}]\nfoo: 1\n", "field foo not found in type config.plain", "foo", 3),
    ("", "no route provided in config", "", None),
    ("# only a comment\n", "no route provided in config", "", None),
    ("receivers: [{name: x}]\n", "no routes provided", "", 1),
    ("- a\n", "cannot unmarshal !!seq into config.plain", "", 1),
    ("route: {receiver: x}\nroute: {receiver: x}\nreceivers: [{name: x}]\n",
     "field route already set in type config.plain", "", 2),
    ("route: [\n", "yaml:", "", 2),
    # -- route
    ("route: {}\n" + OK_TAIL, "root route must specify a default receiver", "route", 1),
    ("route:\n  receiver: x\n  match: {a: b}\n" + OK_TAIL, "root route must not have any matchers", "route", 2),
    ("route:\n  receiver: x\n  matchers: [a=b]\n" + OK_TAIL, "root route must not have any matchers", "route", 2),
    ("route: {receiver: x, continue: true}\n" + OK_TAIL, "cannot have continue in root route", "route", 1),
    ("route: {receiver: x, mute_time_intervals: [a]}\n" + OK_TAIL + "time_intervals: [{name: a}]\n",
     "root route must not have any mute time intervals", "route", 1),
    ("route: {receiver: x, active_time_intervals: [a]}\n" + OK_TAIL + "time_intervals: [{name: a}]\n",
     "root route must not have any active time intervals", "route", 1),
    ("route:\n  receiver: x\n  routes:\n  - receiver: z\n" + OK_TAIL,
     'undefined receiver "z" used in route', "route.routes[0]", 4),
    ("route:\n  receiver: x\n  routes:\n  - receiver: x\n    routes:\n    - {receiver: nope}\n" + OK_TAIL,
     'undefined receiver "nope" used in route', "route.routes[0].routes[0]", 6),
    ("route:\n  receiver: x\n  group_interval: 0s\n" + OK_TAIL, "group_interval cannot be zero", "route.group_interval", 3),
    ("route:\n  receiver: x\n  routes:\n  - repeat_interval: 0\n" + OK_TAIL,
     "repeat_interval cannot be zero", "route.routes[0].repeat_interval", 4),
    ("route:\n  receiver: x\n  group_wait: 30\n" + OK_TAIL, 'not a valid duration string: "30"', "route.group_wait", 3),
    ("route:\n  receiver: x\n  group_wait: 1.5m\n" + OK_TAIL, 'not a valid duration string: "1.5m"', "route.group_wait", 3),
    ("route:\n  receiver: x\n  group_wait: ''\n" + OK_TAIL, "empty duration string", "route.group_wait", 3),
    ("route:\n  receiver: x\n  group_wait: -1s\n" + OK_TAIL, 'not a valid duration string: "-1s"', "route.group_wait", 3),
    ("route:\n  receiver: x\n  group_by: [a, '...']\n" + OK_TAIL,
     "cannot have wildcard group_by (`...`) and other other labels at the same time", "route.group_by", 3),
    ("route:\n  receiver: x\n  group_by: [a, a]\n" + OK_TAIL, 'duplicated label "a" in group_by', "route.group_by", 3),
    ("route:\n  receiver: x\n  group_by:\n  - ok\n  - a-b\n" + OK_TAIL,
     'invalid label name "a-b" in group_by list', "route.group_by[1]", 5),
    ("route:\n  receiver: x\n  group_by: a\n" + OK_TAIL, "cannot unmarshal !!str `a` into []", "route.group_by", 3),
    ("route:\n  receiver: x\n  routes:\n  - match:\n      a-b: c\n" + OK_TAIL,
     'invalid label name "a-b"', "route.routes[0].match.a-b", 5),
    ("route:\n  receiver: x\n  routes:\n  - match_re:\n      a: '(c'\n" + OK_TAIL,
     "error parsing regexp: missing closing ): `^(?:(c)$`", "route.routes[0].match_re.a", 5),
    ("route:\n  receiver: x\n  routes:\n  - match_re:\n      a:\n" + OK_TAIL,
     'invalid regexp value for "a"', "route.routes[0].match_re.a", 5),
    ("route:\n  receiver: x\n  routes:\n  - matchers:\n    - a=b\n    - 'c'\n" + OK_TAIL,
     "bad matcher format: c", "route.routes[0].matchers[1]", 6),
    ("route:\n  receiver: x\n  routes:\n  - matchers: ['a=~\"(?=x)\"']\n" + OK_TAIL,
     "error parsing regexp: invalid or unsupported Perl syntax: `(?=`", "route.routes[0].matchers[0]", 4),
    ("route:\n  receiver: x\n  routes:\n  - continue: 'yes'\n" + OK_TAIL,
     "cannot unmarshal !!str `yes` into bool", "route.routes[0].continue", 4),
    ("route:\n  receiver: x\n  routes:\n  - recevier: x\n" + OK_TAIL,
     "field recevier not found in type config.plain", "route.routes[0].recevier", 4),
    ("route:\n  receiver: x\n  receiver: y\n" + OK_TAIL, "field receiver already set in type config.plain", "route", 3),
    ("route:\n  receiver: x\n  routes:\n  - match: {a: b, a: c}\n" + OK_TAIL,
     'key "a" already set in map', "route.routes[0].match", 4),
    ("route:\n  receiver: x\n  routes:\n  - null\n" + OK_TAIL, "a route cannot be null", "route.routes[0]", 4),
    ("route:\n  receiver: x\n  routes:\n  - mute_time_intervals: [nope]\n" + OK_TAIL,
     'undefined time interval "nope" used in route', "route.routes[0].mute_time_intervals", 4),
    ("route:\n  receiver: x\n  routes:\n  - active_time_intervals: [nope]\n" + OK_TAIL,
     'undefined time interval "nope" used in route', "route.routes[0].active_time_intervals", 4),
    # -- receivers
    ("route: {receiver: x}\nreceivers:\n- name: x\n- name: x\n", 'notification config name "x" is not unique',
     "receivers[1]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n- {}\n", "missing name in receiver", "receivers[1]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  hook_configs: []\n", "field hook_configs not found",
     "receivers[0].hook_configs", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  msteams_configs: [{webhook_url: 'http://a/'}]\n",
     "msteams_configs was added in Alertmanager 0.26", "receivers[0].msteams_configs", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs:\n  - {}\n", "missing URL in webhook config",
     "receivers[0].webhook_configs[0]", 5),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs:\n  - url: ftp://a/\n",
     'unsupported scheme "ftp" for URL', "receivers[0].webhook_configs[0].url", 5),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs:\n  - url: http:///a\n", "missing host for URL",
     "receivers[0].webhook_configs[0].url", 5),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs:\n  - url: http://a/\n    url_file: /f\n",
     "field url_file not found in type config.plain", "receivers[0].webhook_configs[0].url_file", 6),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs:\n  - {url: 'http://a/', max_alerts: -1}\n",
     "cannot unmarshal !!int `-1` into uint64", "receivers[0].webhook_configs[0].max_alerts", 5),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs:\n  - url: http://a/\n    http_config:\n"
     "      bearer_token: a\n      basic_auth: {username: b}\n",
     "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
     "receivers[0].webhook_configs[0].http_config", 7),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs:\n  - url: http://a/\n    http_config:\n"
     "      tls_config: {min_version: TLS14}\n", "unknown TLS version: TLS14",
     "receivers[0].webhook_configs[0].http_config.tls_config.min_version", 7),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webhook_configs: [null]\n", "a webhook_configs entry cannot be null",
     "receivers[0].webhook_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  email_configs: [{to: a@b}]\n", "no global SMTP smarthost set",
     "receivers[0].email_configs[0]", 4),
    ("global: {smtp_smarthost: 'a:25'}\nroute: {receiver: x}\nreceivers:\n- name: x\n  email_configs: [{to: a@b}]\n",
     "no global SMTP from set", "receivers[0].email_configs[0]", 5),
    ("global:\n  smtp_smarthost: a\nroute: {receiver: x}\nreceivers: [{name: x}]\n",
     "address a: missing port in address", "global.smtp_smarthost", 2),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  slack_configs: [{channel: '#a'}]\n",
     "no global Slack API URL set either inline or in a file", "receivers[0].slack_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  slack_configs:\n  - api_url: http://a/\n    fields: [{title: t}]\n",
     "missing value in Slack field configuration", "receivers[0].slack_configs[0].fields[0]", 6),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  pagerduty_configs: [{}]\n",
     "missing service or routing key in PagerDuty config", "receivers[0].pagerduty_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  opsgenie_configs: [{}]\n",
     "no global OpsGenie API Key set either inline or in a file", "receivers[0].opsgenie_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  opsgenie_configs: [{api_key: k, responders: [{name: a, type: foo}]}]\n",
     "opsGenieConfig responder { a  foo} type does not match valid options ^(team|teams|user|escalation|schedule)$",
     "receivers[0].opsgenie_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  victorops_configs: [{routing_key: a}]\n",
     "no global VictorOps API Key set", "receivers[0].victorops_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  pushover_configs: [{user_key: a}]\n",
     "missing token in Pushover config", "receivers[0].pushover_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  pushover_configs: [{user_key: a, token: b, retry: 1d}]\n",
     'time: unknown unit "d" in duration "1d"', "receivers[0].pushover_configs[0].retry", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  sns_configs: [{topic_arn: a, target_arn: b}]\n",
     "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config", "receivers[0].sns_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  telegram_configs: [{bot_token: a, chat_id: '5'}]\n",
     "cannot unmarshal !!str `5` into int64", "receivers[0].telegram_configs[0].chat_id", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  webex_configs: [{room_id: a}]\n",
     "missing webex_configs.http_config.authorization", "receivers[0].webex_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  discord_configs: [{}]\n", "no discord webhook URL provided",
     "receivers[0].discord_configs[0]", 4),
    ("route: {receiver: x}\nreceivers:\n- name: x\n  wechat_configs: [{}]\n", "no global Wechat ApiSecret set",
     "receivers[0].wechat_configs[0]", 4),
    # -- global
    ("global:\n  resolve_timeout: 1x\nroute: {receiver: x}\nreceivers: [{name: x}]\n",
     'not a valid duration string: "1x"', "global.resolve_timeout", 2),
    ("global:\n  smtp_tls_config: {}\nroute: {receiver: x}\nreceivers: [{name: x}]\n",
     "field smtp_tls_config not found in type config.plain", "global.smtp_tls_config", 2),
    ("global:\n  slack_api_url: http://a/\n  slack_api_url_file: f\nroute: {receiver: x}\nreceivers: [{name: x}]\n",
     "at most one of slack_api_url & slack_api_url_file must be configured", "global", 2),
    # -- inhibit rules
    ("route: {receiver: x}\nreceivers: [{name: x}]\ninhibit_rules:\n- equal: ['a-b']\n",
     '"a-b" is not a valid label name', "inhibit_rules[0].equal[0]", 4),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ninhibit_rules:\n- source_match:\n    a-b: c\n",
     'invalid label name "a-b"', "inhibit_rules[0].source_match.a-b", 5),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ninhibit_rules:\n- target_match_re:\n    a: '(c'\n",
     "error parsing regexp: missing closing ): `^(?:(c)$`", "inhibit_rules[0].target_match_re.a", 5),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ninhibit_rules:\n- source_matchers: [a]\n",
     "bad matcher format: a", "inhibit_rules[0].source_matchers[0]", 4),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ninhibit_rules:\n- name: r\n",
     "field name not found in type config.plain", "inhibit_rules[0].name", 4),
    # -- time intervals
    ("route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals: [{name: a}, {name: a}]\n",
     'time interval "a" is not unique', "time_intervals", 3),
    ("route: {receiver: x}\nreceivers: [{name: x}]\nmute_time_intervals: [{name: a}]\ntime_intervals: [{name: a}]\n",
     'time interval "a" is not unique', "time_intervals", 4),
    ("route: {receiver: x}\nreceivers: [{name: x}]\nmute_time_intervals: [{name: a}, {name: a}]\n",
     'mute time interval "a" is not unique', "mute_time_intervals", 3),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals: [{time_intervals: []}]\n",
     "missing name in time interval", "time_intervals[0]", 3),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals:\n- name: a\n  time_intervals:\n  - weekdays: [mon]\n",
     "mon is not a valid weekday", "time_intervals[0].time_intervals[0].weekdays[0]", 6),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals:\n- name: a\n  time_intervals:\n"
     "  - times: [{start_time: '10:00', end_time: '09:00'}]\n",
     "start time cannot be equal or greater than end time", "time_intervals[0].time_intervals[0].times[0]", 6),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals:\n- name: a\n  time_intervals:\n"
     "  - location: Foo/Bar\n", "unknown time zone Foo/Bar", "time_intervals[0].time_intervals[0].location", 6),
    ("route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals:\n- name: a\n  time_intervals:\n"
     "  - time_zone: UTC\n", "field time_zone not found", "time_intervals[0].time_intervals[0].time_zone", 6),
]


@pytest.mark.parametrize(("text", "reason", "path", "line"), CASES, ids=[c[1][:50] for c in CASES])
def test_refused_with_key_path_and_line(text, reason, path, line):
    error = refuse(text)
    assert reason in error.reason
    assert error.path == path
    assert error.line == line
    assert error.source == "am.yml"
    shown = str(error)
    assert shown.startswith("am.yml" + (f":{line}" if line is not None else "") + ":")
    if path:
        assert f": {path}: " in shown


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# -- Alertmanager 0.28 lists the sinks serve, and the pipeline's own lists ----------------------------------

NEW_LISTS_OK = """\
global:
  jira_api_url: https://example.atlassian.net/rest/api/2
route: {receiver: x}
receivers:
- name: x
  msteamsv2_configs: [{webhook_url: 'https://flow.example/workflows/1?sig=s', title: T}]
  jira_configs:
  - {project: OPS, issue_type: Bug, reopen_duration: 1d, fields: {customfield_10000: {value: x}, n: 3}}
  servicenow_configs:
  - {instance_url: 'https://x.service-now.com', http_config: {basic_auth: {username: u, password: p}}}
  datadog_configs: [{api_key: k, tags: [env:prod]}]
  kafka_configs: [{topic: alerts.out, key: notification}]
"""


def test_028_lists_and_pipeline_extensions_are_accepted() -> None:
    receiver = parse_config(NEW_LISTS_OK, "am.yml").receiver("x")
    kinds = [(i.kind, i.index) for i in receiver.integrations]
    assert kinds == [("msteamsv2", 0), ("jira", 0), ("servicenow", 0), ("datadog", 0), ("kafka", 0)]
    jira = receiver.of_kind("jira")[0].config
    assert jira["api_url"] == "https://example.atlassian.net/rest/api/2"  # from global.jira_api_url
    assert jira["send_resolved"] is True and jira["fields"] == {"customfield_10000": {"value": "x"}, "n": 3}
    assert receiver.of_kind("datadog")[0].config["api_url"] == "https://api.datadoghq.com"


NEW_LIST_CASES = [
    ("  msteamsv2_configs: [{title: t}]\n", "one of webhook_url or webhook_url_file must be configured",
     "receivers[0].msteamsv2_configs[0]", 4),
    ("  msteamsv2_configs: [{webhook_url: 'https://a/', webhook_url_file: /f}]\n",
     "at most one of webhook_url & webhook_url_file must be configured", "receivers[0].msteamsv2_configs[0]", 4),
    ("  jira_configs: [{api_url: 'https://a/', issue_type: Bug}]\n", "missing project in jira_config",
     "receivers[0].jira_configs[0]", 4),
    ("  jira_configs: [{project: P, issue_type: Bug}]\n", "no global Jira Cloud URL set",
     "receivers[0].jira_configs[0]", 4),
    ("  jira_configs:\n  - {api_url: 'https://a/', project: P, issue_type: B, reopen_duration: 1x}\n",
     'not a valid duration string: "1x"', "receivers[0].jira_configs[0].reopen_duration", 5),
    ("  servicenow_configs: [{instance_url: 'https://a/'}]\n",
     "missing servicenow_configs.http_config.basic_auth or authorization", "receivers[0].servicenow_configs[0]", 4),
    ("  datadog_configs: [{tags: [a]}]\n", "missing api_key or api_key_file in datadog_config",
     "receivers[0].datadog_configs[0]", 4),
    ("  kafka_configs: [{topic: t, key: random}]\n", 'kafka_config key must be "group", "notification" or "none"',
     "receivers[0].kafka_configs[0]", 4),
    ("  kafka_configs: [{topic: t, partition: 1}]\n", "field partition not found",
     "receivers[0].kafka_configs[0].partition", 4),
    ("  webhook_configs: [{url: 'http://a/', signing_secret: s, signing_secret_file: /f}]\n",
     "at most one of signing_secret & signing_secret_file must be configured", "receivers[0].webhook_configs[0]", 4),
]


@pytest.mark.parametrize("integration,reason,path,line", NEW_LIST_CASES)
def test_new_lists_are_checked_naming_key_and_line(integration: str, reason: str, path: str, line: int) -> None:
    error = refuse("route: {receiver: x}\nreceivers:\n- name: x\n" + integration)
    assert reason in str(error)
    assert error.path == path and error.line == line
