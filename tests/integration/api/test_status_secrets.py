"""Secrets never leave through ``GET /api/v2/status``: for one configuration holding every
secret-bearing field of every receiver kind Alertmanager 0.25 knows (and its globals), the bridge's
``config.original`` is character for character what a real Alertmanager 0.25 answers for the same
file — ``<secret>`` in exactly the same places — and ``amtool config show`` prints the same from
both; ``amtool config routes`` (which parses that text) fares the same with both."""

from __future__ import annotations

import difflib
import re
import subprocess

import httpx
import pytest

from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.peer_processes import require_binary, running_alertmanager
from tests.integration.pki import make_pki

SECRET = "S3CRET"  # every secret value below contains it; no answer may


def secret_config(pki) -> dict:
    ca, cert, key = str(pki.ca_cert), str(pki.client_cert), str(pki.client_key)

    def s(name: str) -> str:
        return f"{SECRET}-{name}"

    return {
        "global": {
            "resolve_timeout": "90m",
            "http_config": {"tls_config": {"ca_file": ca, "insecure_skip_verify": True}},
            "smtp_smarthost": "smtp.example.com:587", "smtp_from": "am@example.com", "smtp_auth_username": "u",
            "smtp_auth_password": s("smtp-password"), "smtp_auth_secret": s("smtp-secret"),
            "smtp_auth_identity": "ident",
            "slack_api_url": f"https://hooks.slack.com/services/{s('global-slack')}",
            "opsgenie_api_key": s("global-opsgenie"),
            "wechat_api_secret": s("global-wechat"), "wechat_api_corp_id": "corp",
            "victorops_api_key": s("global-victorops"),
        },
        "route": {
            "receiver": "everything", "group_by": ["..."], "group_wait": "30s", "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "everything", "matchers": ['b="x\\"y"', 'a=~"é.*"', 'c!="\\n"'],
                 "mute_time_intervals": ["off"], "active_time_intervals": ["on"], "group_by": ["a", "b"],
                 "continue": True, "group_wait": "1d"},
                {"receiver": "globals", "match": {"team": "db", "b10": "x", "b9": "y"},
                 "match_re": {"sev": "crit|page"}},
            ],
        },
        "inhibit_rules": [{"source_match": {"a": "b"}, "source_match_re": {"c": "d+"}, "target_match": {"e": "f"},
                           "target_matchers": ['x="y"'], "equal": ["x"]}],
        "time_intervals": [{"name": "on", "time_intervals": [{
            "times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday", "sunday"],
            "days_of_month": ["1:5", "-1"], "months": ["1:3", "december"], "years": ["2020:2030"],
            "location": "Europe/Berlin"}]}],
        "mute_time_intervals": [{"name": "off", "time_intervals": [{"weekdays": ["saturday"]}]}],
        "templates": ["templates/*.tmpl"],
        "receivers": [
            {"name": "everything",
             "webhook_configs": [
                 # The URL is shown, as by Alertmanager 0.25 (a token belongs in http_config).
                 {"url": "http://example.com/hook", "max_alerts": 3, "send_resolved": False,
                  "http_config": {"authorization": {"credentials": s("webhook-authorization")},
                                  "proxy_url": f"http://proxyuser:{s('proxy-password')}@proxy:3128",
                                  "proxy_connect_header": {"X-Proxy-Auth": [s("proxy-header-1"), s("proxy-header-2")]},
                                  "follow_redirects": False}},
                 {"url": "http://example.com/hook2", "http_config": {"bearer_token": s("webhook-bearer")}},
                 {"url": "http://example.com/hook3", "http_config": {
                     "basic_auth": {"username": "u", "password": s("webhook-basic")}}},
                 {"url": "http://example.com/hook4", "http_config": {"basic_auth": {"username": "u",
                                                                                    "password_file": "/etc/pw"}}},
                 {"url": "http://example.com/hook5", "http_config": {"oauth2": {
                     "client_id": "cid", "client_secret": s("oauth2-client-secret"), "token_url": "https://auth/token",
                     "scopes": ["a", "b"], "endpoint_params": {"p": "q"},
                     "tls_config": {"cert_file": cert, "key_file": key, "server_name": "s", "min_version": "TLS12"},
                     "proxy_url": "http://p2:1"}}},
                 {"url": "http://example.com/hook6", "http_config": {
                     "oauth2": {"client_id": "cid", "client_secret_file": "/etc/csf", "token_url": "https://auth/t"},
                     "tls_config": {"ca_file": ca, "cert_file": cert, "key_file": key, "server_name": "sn",
                                    "min_version": "TLS13", "max_version": "TLS13"}}},
             ],
             "email_configs": [
                 {"to": "x@example.com", "auth_password": s("email-password"), "auth_secret": s("email-secret"),
                  "headers": {"subject": "hi", "x-custom": "v"}, "text": "line one\nline two\n",
                  "require_tls": False, "tls_config": {"insecure_skip_verify": True}},
                 {"to": "y@example.com", "auth_password_file": "/etc/smtp-pw"},
             ],
             "pagerduty_configs": [
                 {"routing_key": s("pagerduty-routing"), "images": [{"src": "s", "alt": "a", "href": "h"}],
                  "links": [{"href": "h", "text": "t"}], "severity": "critical", "class": "c", "component": "comp",
                  "group": "g", "details": {"a": "b"}},
                 {"service_key": s("pagerduty-service")},
                 {"routing_key_file": "/etc/rk"},
             ],
             "slack_configs": [
                 {"api_url": f"https://hooks.slack.com/services/{s('slack')}", "channel": "#alerts",
                  "fields": [{"title": "t", "value": "v", "short": True}],
                  "actions": [{"type": "button", "text": "t", "url": "https://x"},
                              {"type": "button", "text": "t2", "name": "n", "value": "v",
                               "confirm": {"text": "sure", "title": "T", "ok_text": "y", "dismiss_text": "n"}}],
                  "mrkdwn_in": ["text"], "link_names": True, "short_fields": True,
                  "title": "A long title that goes on and on well past the eighty columns a YAML emitter folds at"},
                 {"api_url_file": "/etc/slack-url"},
             ],
             "opsgenie_configs": [
                 {"api_key": s("opsgenie"), "responders": [{"name": "n", "type": "Team"}], "details": {"k": "v"},
                  "entity": "e", "actions": "act", "tags": "t", "note": "n", "priority": "P1", "update_alerts": True},
                 {"api_key_file": "/etc/og"},
             ],
             "wechat_configs": [{"api_secret": s("wechat"), "corp_id": "c2", "message_type": "markdown"}],
             "pushover_configs": [{"user_key": s("pushover-user"), "token": s("pushover-token"), "retry": "90s",
                                   "html": True}],
             "victorops_configs": [{"routing_key": "r", "api_key": s("victorops"), "custom_fields": {"a": "b"}}],
             "sns_configs": [
                 {"topic_arn": "arn:x", "sigv4": {"region": "us-east-1", "access_key": "AK",
                                                  "secret_key": s("sigv4"), "profile": "p", "role_arn": "ra"}},
                 {"phone_number": "123", "api_url": "https://sns.example.com"},
             ],
             "telegram_configs": [{"bot_token": s("telegram"), "chat_id": -100, "disable_notifications": True,
                                   "parse_mode": ""}],
             "discord_configs": [{"webhook_url": f"https://discord.com/api/webhooks/1/{s('discord')}"}],
             "webex_configs": [{"room_id": "r", "http_config": {"authorization": {"credentials": s("webex")}}}],
             },
            # Everything from global: the receivers show <secret> where global's secrets fill them in.
            {"name": "globals", "email_configs": [{"to": "z@example.com"}], "slack_configs": [{"channel": "#g"}],
             "opsgenie_configs": [{}], "wechat_configs": [{}], "victorops_configs": [{"routing_key": "r"}]},
        ],
    }


@pytest.fixture(scope="module")
def amtool_binary() -> str:
    return require_binary("amtool")


def amtool(binary: str, url: str, *args: str, ok: bool = True) -> str:
    result = subprocess.run([binary, f"--alertmanager.url={url}", *args], capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, f"amtool {' '.join(args)} against {url}: {result.stdout}{result.stderr}"
    return f"{result.returncode}: {result.stdout}{result.stderr}"


def test_status_shows_secret_exactly_where_alertmanager_does(api_settings, amtool_binary, tmp_path):
    pki = make_pki(tmp_path / "pki")
    with running_alertmanager(tmp_path / "alertmanager", secret_config(pki)) as alertmanager:
        theirs = httpx.get(f"{alertmanager.url}/api/v2/status", timeout=10).json()["config"]["original"]
        their_show = amtool(amtool_binary, alertmanager.url, "config", "show")
        # 0.25 writes tls_config.min_version as a number its own amtool cannot read back ("unknown TLS
        # version: 771"): whatever amtool makes of it, it must make the same of ours.
        their_routes = amtool(amtool_binary, alertmanager.url, "config", "routes", ok=False)
        settings = api_settings.model_copy(update={"alertmanager_config": alertmanager.workdir / "alertmanager.yml"})
        with running_bridge(settings, OPEN_SOURCES, tmp_path / "bridge") as bridge:
            ours = httpx.get(f"{bridge.url}/api/v2/status", timeout=10).json()["config"]["original"]
            our_show = amtool(amtool_binary, bridge.url, "config", "show")
            routes = amtool(amtool_binary, bridge.url, "config", "routes", ok=False)
            log = bridge.log()

    assert SECRET in (alertmanager.workdir / "alertmanager.yml").read_text()
    assert SECRET not in theirs, "the real Alertmanager shows a secret: the test configuration is wrong"
    assert ours == theirs, "config.original differs from Alertmanager 0.25's:\n" + "".join(
        difflib.unified_diff(theirs.splitlines(True), ours.splitlines(True), "alertmanager", "bridge"))
    assert our_show == their_show and routes == their_routes
    assert SECRET not in ours + our_show + routes + log
    # every secret of the file is a <secret> (two proxy headers; globals filling receivers show theirs)
    assert ours.count("<secret>") == 33
    assert "xxxxx@proxy:3128" in ours
    assert re.search(r"^\s+api_url: <secret>$", ours, re.M)


def test_amtool_reads_our_secrets_back(amtool_binary, tmp_path):
    """What we answer is a configuration amtool can load again (``<secret>`` is a valid SecretURL to it),
    once the TLS version quirk of 0.25 is left out."""
    import yaml

    from pipeline.amconfig import load_config
    from pipeline.amconfig.marshal import status_yaml

    config = secret_config(make_pki(tmp_path / "pki"))
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            for tls in (webhook["http_config"].get("tls_config"), webhook["http_config"].get("oauth2", {}).get("tls_config")):
                if tls:
                    tls.pop("min_version", None), tls.pop("max_version", None)
    source = tmp_path / "alertmanager.yml"
    source.write_text(yaml.safe_dump(config, sort_keys=False))
    shown = tmp_path / "shown.yml"
    shown.write_text(status_yaml(load_config(source), source.read_text()))
    checked = subprocess.run([amtool_binary, "check-config", str(shown)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert SECRET not in shown.read_text()
