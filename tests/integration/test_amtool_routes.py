"""Side by side with the real Alertmanager 0.25 tool (Debian's amtool).

* ``amtool config routes test`` and our ``routes_test`` give the same receivers for a rich routing
  tree (nested routes, continue, match/match_re/matchers mixed, group_by ``...``) and many label sets;
* Go's regexp and ours (RE2) agree on which values a regex matcher accepts, and refuse the same
  patterns with the same message;
* ``amtool check-config`` accepts every configuration our loader accepts here, and refuses the ones
  it refuses (every case of tests/unit/config/test_validation.py, plus matcher syntax cases).
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import orjson
import pytest

from pipeline.amconfig import ConfigError, load_config, parse_config, routes_test
from pipeline.matchers import MatcherError, parse_matcher
from tests.unit.config.test_validation import CASES as REFUSED_CASES

HOW_TO_GET_AMTOOL = "amtool is missing: apt-get install -y prometheus-alertmanager (it ships amtool 0.25)"


@pytest.fixture(scope="module")
def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail(HOW_TO_GET_AMTOOL)
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    if "0.25." not in version.stdout + version.stderr:
        pytest.fail(f"amtool 0.25 is needed, found: {version.stdout or version.stderr}; {HOW_TO_GET_AMTOOL}")
    return path


def amtool_routes(amtool: str, config_file: Path, labels: dict[str, str]) -> str:
    args = [f"{name}={_quoted(value)}" for name, value in labels.items()]
    result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config_file}", *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.rstrip("\n")


def amtool_check(amtool: str, config_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, "check-config", str(config_file)], capture_output=True, text=True, timeout=30)


def _quoted(value: str) -> str:
    """A label value as a matcher value amtool parses back to the same string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


RICH_CONFIG = """
global:
  resolve_timeout: 2m
route:
  receiver: default
  group_by: [alertname]
  routes:
  - match: {team: db}
    receiver: db-team
    group_by: ['...']
    routes:
    - match_re: {severity: 'critical|page'}
      receiver: db-pager
      continue: true
    - matchers: ['env=~"prod.*"', 'region!="us-east-1"']
      receiver: db-prod
    - matchers: ['env="staging"']
  - matchers: ['team=~"(?i)FRONT.*"']
    receiver: frontend
    continue: true
    routes:
    - match: {severity: critical}
      receiver: frontend-pager
  - match_re:
      service: 'api|web'
      instance: '.+'
    receiver: services
    routes:
    - matchers: ['severity!~"info|debug"']
      receiver: services-loud
      continue: true
    - matchers: ['severity!~"info|debug"', 'owner=""']
      receiver: services-unowned
  - matchers: [team="ops", 'shift=~"night|weekend"']
    receiver: ops-oncall
    continue: true
  - matchers: [team="ops"]
    receiver: ops
    routes:
    - matchers: ['alertname=~"Disk.*"']
      receiver: ops-storage
    - matchers: ['alertname=~".*Full"']
      receiver: ops-capacity
  - matchers: ['msg=~"a\\\\.b"']
    receiver: literal-dot
  - matchers: ['quote="say \\"hi\\""']
    receiver: quoted
  - matchers: ['x=~"\\\\d+"']
    receiver: digits
receivers:
- name: default
- name: db-team
- name: db-pager
- name: db-prod
- name: frontend
- name: frontend-pager
- name: services
- name: services-loud
- name: services-unowned
- name: ops-oncall
- name: ops
- name: ops-storage
- name: ops-capacity
- name: literal-dot
- name: quoted
- name: digits
"""

LABEL_SETS = [
    {},
    {"alertname": "Anything"},
    {"team": "db"},
    {"team": "db", "severity": "critical"},
    {"team": "db", "severity": "page", "env": "prod-eu"},
    {"team": "db", "severity": "page", "env": "prod-eu", "region": "us-east-1"},
    {"team": "db", "severity": "warning", "env": "production"},
    {"team": "db", "severity": "critical", "env": "staging"},
    {"team": "db", "env": "staging"},
    {"team": "db", "env": "dev"},
    {"team": "db", "severity": "Critical"},
    {"team": "frontend"},
    {"team": "Frontend-web", "severity": "critical"},
    {"team": "FRONT", "service": "api", "instance": "i-1"},
    {"team": "backfront"},
    {"service": "api", "instance": "i-1"},
    {"service": "api", "instance": "i-1", "severity": "warning"},
    {"service": "web", "instance": "i-1", "severity": "critical", "owner": "bob"},
    {"service": "web", "instance": "i-1", "severity": "info"},
    {"service": "api"},
    {"service": "apis", "instance": "i-1"},
    {"team": "ops"},
    {"team": "ops", "shift": "night"},
    {"team": "ops", "shift": "night", "alertname": "DiskFull"},
    {"team": "ops", "alertname": "MemoryFull"},
    {"team": "ops", "alertname": "DiskSlow"},
    {"team": "ops", "shift": "day", "alertname": "Disk"},
    {"msg": "a.b"},
    {"msg": "axb"},
    {"quote": 'say "hi"'},
    {"quote": "say hi"},
    {"x": "123"},
    {"x": "12a"},
    {"x": "١٢٣"},
    {"team": "db", "x": "1"},
]


@pytest.fixture(scope="module")
def rich_config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("amtool") / "rich.yml"
    path.write_text(RICH_CONFIG)
    return path


def test_amtool_accepts_the_rich_config(amtool, rich_config_file):
    load_config(rich_config_file)  # ours accepts it...
    result = amtool_check(amtool, rich_config_file)  # ...and so does Alertmanager's tool
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found:\n - global config\n - route\n - 0 inhibit rules\n - 16 receivers\n - 0 templates" in result.stdout


@pytest.mark.parametrize("labels", LABEL_SETS, ids=[",".join(f"{k}={v}" for k, v in ls.items()) or "none"
                                                   for ls in LABEL_SETS])
def test_routes_test_matches_amtool(amtool, rich_config_file, labels):
    ours = ",".join(routes_test(load_config(rich_config_file), labels))
    assert ours == amtool_routes(amtool, rich_config_file, labels)


def test_the_label_sets_reach_every_receiver(rich_config_file):
    config = load_config(rich_config_file)
    reached = {name for labels in LABEL_SETS for name in routes_test(config, labels)}
    assert reached == {r.name for r in config.receivers}


# -- Go RE2 vs our translation: same verdict on the same values --------------------------------------------

REGEX_CASES = [
    ("(?i)abc", ["ABC", "abd", "aBc"]),
    ("a(?i)b|c", ["aB", "C", "AB", "ab"]),
    (".", ["x", "\n", ""]),
    ("(?s).", ["\n"]),
    ("abc", ["abc", "abc\n", "xabc"]),
    (r"\d+", ["123", "12a", "١٢٣"]),
    (r"\w+", ["a_1", "é"]),
    (r"\s", [" ", "\t", "\v", "\u00a0"]),
    ("[[:alpha:]]+", ["abc", "a1"]),
    ("[[:^digit:]]", ["a", "1"]),
    (r"\Qa.b\E", ["a.b", "axb"]),
    ("x{,3}", ["x{,3}", "xxx"]),
    ("x{01}", ["x{01}", "x"]),
    ("(?U)a+", ["aaa", ""]),
    ("[^a]", ["b", "a", "\n"]),
    ("(?i)[^a]", ["b", "a", "A"]),
    ("[]a]", ["]", "a", "b"]),
    ("a|", ["a", "", "b"]),
    ("x)|(y", ["x-tail", "head-y", "z"]),
    (r"\bfoo\b", ["foo", "foox"]),
    ("(?m)^b$", ["b", "a\nb"]),
    ("a*(?i)+", ["aaa", "", "b"]),
    ("(?P<n>x)(?P<n>y)", ["xy", "x"]),
    (r"\x41\x{42}\101", ["ABA", "AB"]),
    ("é+", ["éé", "e"]),
    ("(?i)straße", ["STRASSE", "Straße"]),
    ("[a-c-e]", ["-", "d", "e"]),
    ("(?i)k", ["K", "\u212a", "x"]),
    ("(?i)[\\W]", ["-", "s", "\u017f"]),
    ("(?i)\\w", ["\u017f", "-"]),
    ("(?i)ß", ["\u1e9e", "SS"]),
    (r"\B", ["", "a"]),
    (r"\pL+", ["abcé", "a1"]),
    (r"\p{Lu}", ["Ω", "ω"]),
    (r"[^\pL]", ["1", "a"]),
    (r"(?i)\p{Lu}", ["a", "1"]),
    (r"\pC", ["\u200b", "a"]),
    (r"\p{Greek}+", ["αβγ", "abc"]),
    (r"(?i)\p{Greek}", ["Ω", "a"]),
    (".*", ["", "a b", "a\nb"]),            # the shortcuts of pipeline.regex
    (".+", ["x", "", "\n"]),
    ("critical|warning|", ["warning", "", "Critical", "critical|warning"]),
    ("é|ü", ["ü", "u"]),
    (r"\Q\C\E", ["\\C", "C"]),
]


ALWAYS_ONE_VERDICT = {"(?s)."}  # its only value, "\n", is a hit


@pytest.fixture(scope="module")
def regex_config_file(tmp_path_factory) -> Path:
    routes = []
    receivers = ["- name: miss"]
    for i, (pattern, _) in enumerate(REGEX_CASES):
        matcher = f"value=~{_quoted(pattern)}"
        routes.append(f"  - matchers: ['case=\"{i}\"', '{matcher.replace(chr(39), chr(39) * 2)}']\n"
                      f"    receiver: hit{i}")
        receivers.append(f"- name: hit{i}")
    text = "route:\n  receiver: miss\n  routes:\n" + "\n".join(routes) + "\nreceivers:\n" + "\n".join(receivers) + "\n"
    path = tmp_path_factory.mktemp("amtool") / "regex.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("index", "pattern", "values"), [(i, p, v) for i, (p, v) in enumerate(REGEX_CASES)],
                         ids=[p for p, _ in REGEX_CASES])
def test_regex_verdicts_match_go(amtool, regex_config_file, index, pattern, values):
    """Each case has its own route (selected by `case`), so the verdict is the regex's alone."""
    config = load_config(regex_config_file)
    verdicts = set()
    for value in values:
        labels = {"case": str(index), "value": value}
        ours = ",".join(routes_test(config, labels))
        assert ours == amtool_routes(amtool, regex_config_file, labels), (pattern, value)
        verdicts.add(ours)
    assert verdicts == {f"hit{index}", "miss"} or pattern in ALWAYS_ONE_VERDICT, verdicts


# Patterns Go refuses, each for its own reason; ours must refuse them with Go's very message.
REFUSED_REGEXES = [
    "(c", "a)b", "[a", "[]", "[^]", "a**", "x{2}{3}", "a++", "*", "(*UTF)", "x{1001}", "a{2,1}", "(a{500}){3}",
    "(x{1000}){2}", "[z-a]", "[[:foo:]]", r"\1", r"\8", r"\e", r"\Z", r"\G", r"\cA", r"\u0041", r"\Ee",
    r"\x{110000}", r"\x{zz}", r"\xz", r"\p{", r"\p", r"\pX", r"\p{Cn}", "(?=x)", "(?!x)", "(?<=x)", "(?<n>x)",
    "(?>x)", "(?P=n)", "(?P>n)", "(?#c)", "(?|a)", "(?-)", "(?i-)", "(?i", "(?P<>x)", "(?P<a", "(?P<é>x)",
    r"a\C", r"[\C]", r"\Qab", "\\",
]


@pytest.mark.parametrize("pattern", REFUSED_REGEXES)
def test_refused_regexes_say_what_go_says(amtool, tmp_path, pattern):
    text = "route:\n  receiver: x\n  routes:\n  - match_re:\n      l: " + orjson.dumps(pattern).decode() + \
        "\nreceivers: [{name: x}]\n"
    path = tmp_path / "am.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, str(path))
    result = amtool_check(amtool, path)
    assert f"FAILED: {caught.value.reason}\n" in result.stdout, (pattern, caught.value.reason, result.stdout)


# -- check-config: same verdict ----------------------------------------------------------------------------

ACCEPTED_CONFIGS = [
    "route: {receiver: x, group_wait: 0}\nreceivers: [{name: x}]\n",
    "route: {receiver: x, group_by: ['...', '...']}\nreceivers: [{name: x}]\n",
    "route: {receiver: x, matchers: ['']}\nreceivers: [{name: x}]\n",
    "route: {receiver: x, routes: [{matchers: ['a:b=c', 'job=', 'x=~\"(a{10}){100}\"']}]}\nreceivers: [{name: x}]\n",
    "route: {receiver: '5'}\nreceivers: [{name: 5}]\n",
    "route: {<<: {receiver: x}, group_wait: 1m, routes: [{continue: y}]}\nreceivers: [{name: x}]\n",
    "global: {resolve_timeout: 0s}\nroute: {receiver: x}\nreceivers: [{name: x}]\n",
    "route: {receiver: x}\nreceivers: [{name: x}]\ninhibit_rules: [null, {equal: [null]}]\n",
    "route: {receiver: x}\nreceivers: [{name: x, sns_configs: [{topic_arn: a, target_arn: b, phone_number: c}]}]\n",
    "route: {receiver: x}\nreceivers: [{name: x, webex_configs: [{room_id: a, http_config: {bearer_token: t}}]}]\n",
    "route: {receiver: x}\nreceivers: [{name: x, pushover_configs: [{user_key: a, token: b, retry: 1.5m}]}]\n",
    "route: {receiver: x}\nreceivers: [{name: x, webhook_configs: [{url: 'HTTP://a:/'}]}]\n",
    "route: {receiver: x, routes: [{active_time_intervals: [a], mute_time_intervals: [b]}]}\nreceivers: [{name: x}]\n"
    "mute_time_intervals: [{name: a}]\ntime_intervals:\n- name: b\n  time_intervals:\n"
    "  - {weekdays: ['Monday:FRIDAY'], days_of_month: ['1:-1', '+5'], months: ['January:march', '13'],"
    " years: ['-5'], times: [{start_time: '00:00', end_time: '24:00'}], location: Europe/Berlin}\n"
    "  - null\n  - {times: []}\n",
    "global:\n  smtp_smarthost: ':25'\n  smtp_from: a@b\nroute: {receiver: x}\n"
    "receivers: [{name: x, email_configs: [{to: a@b, headers: {Subject: s}}]}]\n",
    "route: {receiver: x}\nreceivers: [{name: x}]\n---\nfoo: bar\n",
]

EVERY_INTEGRATION_CONFIG = """
global:
  resolve_timeout: 5m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'am@example.org'
  slack_api_url: 'https://hooks.example/slack'
  opsgenie_api_key: key
  victorops_api_key: vkey
  wechat_api_secret: wsecret
  wechat_api_corp_id: corp
  http_config:
    follow_redirects: true
    tls_config:
      insecure_skip_verify: false
route:
  receiver: all
inhibit_rules:
- source_matchers: [severity="critical"]
  target_match:
    severity: warning
  equal: [alertname]
receivers:
- name: all
  webhook_configs:
  - url: 'http://hook/'
    send_resolved: true
    max_alerts: 5
    http_config:
      basic_auth:
        username: u
        password: p
  email_configs:
  - to: 'a@b'
    headers:
      Subject: hi
    require_tls: false
  pagerduty_configs:
  - routing_key: rk
    severity: critical
    images:
    - src: 'http://img'
    links:
    - href: 'http://l'
  slack_configs:
  - channel: '#c'
    fields:
    - title: t
      value: v
    actions:
    - type: button
      text: go
      url: 'http://x'
  opsgenie_configs:
  - responders:
    - name: team
      type: team
  wechat_configs:
  - message_type: markdown
  victorops_configs:
  - routing_key: rk
    custom_fields:
      foo: bar
  pushover_configs:
  - user_key: u
    token: t
    retry: 1m
  sns_configs:
  - topic_arn: arn
    sigv4:
      region: eu
  telegram_configs:
  - bot_token: bt
    chat_id: 5
    parse_mode: HTML
  webex_configs:
  - room_id: r
    http_config:
      authorization:
        credentials: c
  discord_configs:
  - webhook_url: 'http://d/'
"""

ACCEPTED_CONFIGS.append(EVERY_INTEGRATION_CONFIG)

REFUSED_MATCHERS = [
    "a", "a=b,,c=d", "{{a=b}}", 'job="value', 'a=~"(?=x)"', 'a=~"\\\\1"', 'a=~"x{1001}"', 'a=~"(a{500}){3}"',
    'a=~"[[:foo:]]"', 'a=~"\\\\Z"', 'a=~"(?<n>x)"', 'a=~"x**"', 'a=~"[z-a]"',
]


@pytest.mark.parametrize("text", ACCEPTED_CONFIGS)
def test_check_config_accepts_what_we_accept(amtool, tmp_path, text):
    path = tmp_path / "am.yml"
    path.write_text(text)
    load_config(path)
    result = amtool_check(amtool, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_time_zone_is_our_one_deliberate_refusal(amtool, tmp_path):
    """Alertmanager accepts `location: Local` (the host's zone). Workers of this pipeline run on many
    hosts, so muting by whichever zone one of them has would be a bug; we refuse it by name."""
    path = tmp_path / "am.yml"
    path.write_text("route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals:\n- name: a\n"
                    "  time_intervals:\n  - location: Local\n")
    assert amtool_check(amtool, path).returncode == 0
    with pytest.raises(ConfigError, match="location 'Local' .* not supported; name an IANA zone"):
        load_config(path)


@pytest.mark.parametrize(("text", "reason"), [(c[0], c[1]) for c in REFUSED_CASES], ids=[c[1][:50] for c in REFUSED_CASES])
def test_check_config_refuses_what_we_refuse(amtool, tmp_path, text, reason):
    path = tmp_path / "am.yml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError):
        load_config(path)
    result = amtool_check(amtool, path)
    assert result.returncode != 0, result.stdout


@pytest.mark.parametrize("matcher", REFUSED_MATCHERS)
def test_matchers_refused_by_both(amtool, tmp_path, matcher):
    with pytest.raises(MatcherError):
        from pipeline.matchers import parse_matchers

        parse_matchers(matcher.replace("\\\\", "\\"))
    path = tmp_path / "am.yml"
    path.write_text(f"route: {{receiver: x, routes: [{{matchers: ['{matcher}']}}]}}\nreceivers: [{{name: x}}]\n")
    with pytest.raises(ConfigError):
        load_config(path)
    assert amtool_check(amtool, path).returncode != 0


def test_error_messages_match_amtool_for_common_mistakes(amtool, tmp_path):
    samples = [
        "route: {receiver: x, routes: [{receiver: y}]}\nreceivers: [{name: x}]\n",
        "route: {receiver: x, group_interval: 0s}\nreceivers: [{name: x}]\n",
        "route: {receiver: x, routes: [{match_re: {a: '(c'}}]}\nreceivers: [{name: x}]\n",
        "route: {receiver: x}\nreceivers: [{name: x, webhook_configs: [{url: 'ftp://a/'}]}]\n",
        "route: {receiver: x}\nreceivers: [{name: x}]\ntime_intervals: [{name: a, time_intervals: [{weekdays: [mon]}]}]\n",
    ]
    for text in samples:
        path = tmp_path / "am.yml"
        path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            parse_config(text, str(path))
        result = amtool_check(amtool, path)
        assert f"FAILED: {caught.value.reason}" in result.stdout, (text, result.stdout)


def test_label_arguments_parse_like_amtool(amtool, rich_config_file):
    # amtool parses its label arguments with the same matcher parser.
    for arg in ['quote="say \\"hi\\""', "quote=say hi", 'msg="a.b"']:
        matcher = parse_matcher(arg)
        ours = ",".join(routes_test(load_config(rich_config_file), {matcher.name: matcher.value}))
        result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={rich_config_file}", arg],
                                capture_output=True, text=True, timeout=30)
        assert result.stdout.rstrip("\n") == ours


# -- Alertmanager's own example configuration (shipped with the Debian package) -------------------------

SIMPLE_EXAMPLE = Path("/usr/share/doc/prometheus-alertmanager/examples/simple.yml")

SIMPLE_LABEL_SETS = [
    {"service": "foo1"},
    {"service": "baz", "severity": "critical"},
    {"service": "files", "severity": "critical"},
    {"service": "files", "severity": "warning"},
    {"service": "database", "owner": "team-X"},
    {"service": "database", "owner": "team-Y"},
    {"service": "database", "owner": "team-Z"},
    {"service": "other"},
]


def test_alertmanagers_simple_example(amtool):
    if not SIMPLE_EXAMPLE.is_file():
        pytest.fail(f"{SIMPLE_EXAMPLE} is missing: apt-get install -y prometheus-alertmanager")
    config = load_config(SIMPLE_EXAMPLE)
    result = amtool_check(amtool, SIMPLE_EXAMPLE)
    assert result.returncode == 0
    from pipeline.amconfig import check_report

    assert check_report(config).rstrip("\n") in result.stdout
    for labels in SIMPLE_LABEL_SETS:
        assert ",".join(routes_test(config, labels)) == amtool_routes(amtool, SIMPLE_EXAMPLE, labels), labels


def test_cli_matches_amtool_for_check_and_routes_test(amtool, tmp_path):
    """`pipeline config check` and `pipeline config routes test` print what amtool prints."""
    from click.testing import CliRunner

    from pipeline.cli import main as cli

    path = tmp_path / "am.yml"
    path.write_text(RICH_CONFIG)
    ours = CliRunner().invoke(cli, ["config", "check", str(path)])
    theirs = amtool_check(amtool, path)
    assert ours.exit_code == 0 == theirs.returncode, ours.output
    assert ours.output.strip() == theirs.stdout.strip()
    for labels in (["alertname=x"], ["owner=team-A", "env=prod"], ["severity=critical"]):
        ours = CliRunner().invoke(cli, ["config", "routes", "test", str(path), *labels])
        theirs = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}", *labels],
                                capture_output=True, text=True, timeout=30)
        assert ours.output.strip() == theirs.stdout.strip(), (labels, ours.output, theirs.stdout)
    bad = CliRunner().invoke(cli, ["config", "check", str(tmp_path / "missing.yml")])
    assert bad.exit_code == 1 and "no such file" in bad.output
