"""The configuration as Alertmanager 0.25 re-marshals it for ``GET /api/v2/status`` (``config.original``,
what ``amtool config show`` prints): every secret replaced by ``<secret>``.

Alertmanager answers ``yaml.Marshal`` of its loaded ``Config``: Go struct field order, ``omitempty``
rules, the defaults each integration starts from, the ``global`` fallbacks, Go's map-key order, and
``config.Secret`` / ``config.SecretURL`` values written as ``<secret>``. This module produces the same
text from the loaded :class:`~pipeline.amconfig.AlertmanagerConfig` and the file's text (the route tree,
inhibition rules and templates as written, which the loaded model has merged), so a secret never leaves
through the API and ``amtool config routes`` (which parses this text) keeps working.

Checked line for line against a running Alertmanager 0.25 (Debian's build, prometheus/common 0.40's
HTTP client configuration) with every receiver kind and every secret-bearing field
(tests/integration/api/test_status_secrets.py). Where that build marshals oddly, so does this:
``tls_config.min_version`` is a number (771 for TLS12), an oauth2 block shows ``client_secret: null``
and ``client_secret_file: ""`` when unset, opsgenie responder types keep the case they were written in,
e-mail headers show the From/To/Subject the notifier adds.

As Alertmanager 0.25, ``webhook_configs[].url`` is shown (0.26 made it a secret; amtool 0.25 could not
read a configuration where it is ``<secret>``): a webhook whose URL carries a credential should move it
to ``http_config.authorization``. The lists this pipeline adds (msteamsv2, jira, servicenow, datadog,
kafka) follow the same rules with their secret fields masked.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from pipeline.amconfig.model import AlertmanagerConfig, Integration
from pipeline.amconfig.nodes import At
from pipeline.amconfig.schema import GLOBAL, INTEGRATIONS, SECRET, SECRET_URL, Obj
from pipeline.amconfig.values import parse_go_duration, parse_model_duration
from pipeline.matchers import Matchers, parse_matchers

SECRET_TOKEN = "<secret>"
_TLS_NUMBERS = {"TLS10": 769, "TLS11": 770, "TLS12": 771, "TLS13": 772}


# --- Go ordering and values ------------------------------------------------------------------------

def _go_key_less(a: str, b: str) -> bool:
    """yaml.v2's keyList.Less for string keys: letters by code point, digit runs by value."""
    ar, br = list(a), list(b)
    for i in range(min(len(ar), len(br))):
        if ar[i] == br[i]:
            continue
        al, bl = ar[i].isalpha(), br[i].isalpha()
        if al and bl:
            return ar[i] < br[i]
        if al or bl:
            return bl
        an = bn = 0
        if ar[i] == "0" or br[i] == "0":
            j = i - 1
            while j >= 0 and ar[j].isdigit():
                if ar[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(ar) and ar[ai].isdigit():
            an = an * 10 + int(ar[ai])
            ai += 1
        bi = i
        while bi < len(br) and br[bi].isdigit():
            bn = bn * 10 + int(br[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ar[i] < br[i]
    return len(ar) < len(br)


def _go_map(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A Go map as yaml.v2 writes it: keys sorted by keyList.Less."""
    order = sorted(mapping, key=functools.cmp_to_key(lambda a, b: -1 if _go_key_less(a, b) else
                                                       (1 if _go_key_less(b, a) else 0)))
    return {key: mapping[key] for key in order}


def model_duration(value: timedelta) -> str:
    """prometheus/common model.Duration.String()."""
    ms = int(value / timedelta(milliseconds=1))
    if ms == 0:
        return "0s"
    out = ""
    for unit, mult, exact in (("y", 31_536_000_000, True), ("w", 604_800_000, True), ("d", 86_400_000, False),
                              ("h", 3_600_000, False), ("m", 60_000, False), ("s", 1000, False), ("ms", 1, False)):
        if exact and ms % mult != 0:
            continue
        count = ms // mult
        if count > 0:
            out += f"{count}{unit}"
            ms -= count * mult
    return out


def go_duration(value: timedelta) -> str:
    """Go's time.Duration.String() (whole nanoseconds)."""
    ns = round(value / timedelta(microseconds=1)) * 1000
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + _fraction(rest, 1_000_000_000) + "s"


def _fraction(value: int, size: int) -> str:
    whole, part = divmod(value, size)
    if not part:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}." + f"{part:0{digits}d}".rstrip("0")


def _redacted_url(url: str) -> str:
    """prometheus/common URL.Redacted(): a password in the user info becomes xxxxx."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:xxxxx@{host}"))


def _secret(value: Any) -> str | None:
    return SECRET_TOKEN if value else None


def _fields(*pairs: tuple[str, Any, bool]) -> dict[str, Any]:
    """(key, value, always): omitempty drops None, "", 0, False, empty collections."""
    out: dict[str, Any] = {}
    for key, value, always in pairs:
        if always or not _empty(value):
            out[key] = value
    return out


def _empty(value: Any) -> bool:
    return value is None or value == "" or value is False or value == 0 or (
        isinstance(value, (dict, list, tuple)) and not value)


# --- prometheus/common HTTP client configuration -----------------------------------------------------

def _tls(cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not cfg:
        return None
    out = _fields(("ca_file", cfg.get("ca_file"), False), ("cert_file", cfg.get("cert_file"), False),
                  ("key_file", cfg.get("key_file"), False), ("server_name", cfg.get("server_name"), False),
                  ("insecure_skip_verify", bool(cfg.get("insecure_skip_verify")), True),
                  ("min_version", _TLS_NUMBERS.get(cfg.get("min_version") or ""), False),
                  ("max_version", _TLS_NUMBERS.get(cfg.get("max_version") or ""), False))
    # A struct with every field zero is omitted (yaml.v2 omitempty on a struct).
    return None if list(out) == ["insecure_skip_verify"] and not out["insecure_skip_verify"] else out


def http_config(cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if cfg is None:
        return None
    basic = cfg.get("basic_auth")
    authorization = cfg.get("authorization")
    oauth2 = cfg.get("oauth2")
    out = _fields(
        ("basic_auth", None if basic is None else _fields(
            ("username", basic.get("username", ""), True), ("password", _secret(basic.get("password")), False),
            ("password_file", basic.get("password_file"), False)), False),
        ("authorization", None if authorization is None else _fields(
            ("type", authorization.get("type"), False), ("credentials", _secret(authorization.get("credentials")), False),
            ("credentials_file", authorization.get("credentials_file"), False)), False),
        ("oauth2", None if oauth2 is None else _fields(
            ("client_id", oauth2.get("client_id", ""), True),
            ("client_secret", _secret(oauth2.get("client_secret")), True),
            ("client_secret_file", oauth2.get("client_secret_file", ""), True),
            ("scopes", list(oauth2.get("scopes") or []), False),
            ("token_url", oauth2.get("token_url", ""), True),
            ("endpoint_params", _go_map(oauth2.get("endpoint_params") or {}), False),
            ("proxy_url", _redacted_url(oauth2["proxy_url"]) if oauth2.get("proxy_url") else None, False),
            ("tls_config", _tls(oauth2.get("tls_config")), False)), False),
        ("bearer_token", _secret(cfg.get("bearer_token")), False),
        ("bearer_token_file", cfg.get("bearer_token_file"), False),
        ("proxy_url", _redacted_url(cfg["proxy_url"]) if cfg.get("proxy_url") else None, False),
        ("proxy_connect_header", _go_map({name: [SECRET_TOKEN] * len(values) for name, values in
                                          (cfg.get("proxy_connect_header") or {}).items()}), False),
        ("tls_config", _tls(cfg.get("tls_config")), False),
        ("follow_redirects", bool(cfg.get("follow_redirects", True)), True),
        ("enable_http2", bool(cfg.get("enable_http2", True)), True),
    )
    return out


# --- the integrations, in Go's field order with each kind's defaults -----------------------------------

def _t(name: str) -> str:
    return '{{ template "' + name + '" . }}'


# (key, always, default): the field order of each Go struct after NotifierConfig and HTTPConfig.
_LAYOUTS: dict[str, tuple[tuple[str, bool, Any], ...]] = {
    "discord_configs": (("webhook_url", False, None), ("title", False, _t("discord.default.title")),
                        ("message", False, _t("discord.default.message"))),
    "email_configs": (("to", False, None), ("from", False, None), ("hello", False, None), ("smarthost", False, None),
                      ("auth_username", False, None), ("auth_password", False, None),
                      ("auth_password_file", False, None), ("auth_secret", False, None), ("auth_identity", False, None),
                      ("headers", False, None), ("html", False, _t("email.default.html")), ("text", False, None),
                      ("require_tls", False, None), ("tls_config", False, None)),
    "pagerduty_configs": (("service_key", False, None), ("service_key_file", False, None), ("routing_key", False, None),
                          ("routing_key_file", False, None), ("url", False, None),
                          ("client", False, _t("pagerduty.default.client")),
                          ("client_url", False, _t("pagerduty.default.clientURL")),
                          ("description", False, '{{ template "pagerduty.default.description" .}}'),
                          ("details", False, None), ("images", False, None), ("links", False, None),
                          ("source", False, None), ("severity", False, None), ("class", False, None),
                          ("component", False, None), ("group", False, None)),
    "slack_configs": (("api_url", False, None), ("api_url_file", False, None), ("channel", False, None),
                      ("username", False, _t("slack.default.username")),
                      ("color", False, '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}'),
                      ("title", False, _t("slack.default.title")), ("title_link", False, _t("slack.default.titlelink")),
                      ("pretext", False, _t("slack.default.pretext")), ("text", False, _t("slack.default.text")),
                      ("fields", False, None), ("short_fields", True, False),
                      ("footer", False, _t("slack.default.footer")), ("fallback", False, _t("slack.default.fallback")),
                      ("callback_id", False, _t("slack.default.callbackid")),
                      ("icon_emoji", False, _t("slack.default.iconemoji")),
                      ("icon_url", False, _t("slack.default.iconurl")), ("image_url", False, None),
                      ("thumb_url", False, None), ("link_names", True, False), ("mrkdwn_in", False, None),
                      ("actions", False, None)),
    "webhook_configs": (("url", True, None), ("max_alerts", True, 0),
                        ("signing_secret", False, None), ("signing_secret_file", False, None)),  # + pipeline's
    "opsgenie_configs": (("api_key", False, None), ("api_key_file", False, None), ("api_url", False, None),
                         ("message", False, _t("opsgenie.default.message")),
                         ("description", False, _t("opsgenie.default.description")),
                         ("source", False, _t("opsgenie.default.source")), ("details", False, None),
                         ("entity", False, None), ("responders", False, None), ("actions", False, None),
                         ("tags", False, None), ("note", False, None), ("priority", False, None),
                         ("update_alerts", False, None)),
    "wechat_configs": (("api_secret", False, None), ("corp_id", False, None),
                       ("message", False, _t("wechat.default.message")), ("api_url", False, None),
                       ("to_user", False, _t("wechat.default.to_user")), ("to_party", False, _t("wechat.default.to_party")),
                       ("to_tag", False, _t("wechat.default.to_tag")), ("agent_id", False, _t("wechat.default.agent_id")),
                       ("message_type", False, None)),
    "pushover_configs": (("user_key", False, None), ("token", False, None), ("title", False, _t("pushover.default.title")),
                         ("message", False, _t("pushover.default.message")), ("url", False, _t("pushover.default.url")),
                         ("url_title", False, None), ("sound", False, None),
                         ("priority", False, '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}'),
                         ("retry", False, "1m"), ("expire", False, "1h"), ("html", True, False)),
    "victorops_configs": (("api_key", False, None), ("api_key_file", False, None), ("api_url", True, None),
                          ("routing_key", True, None), ("message_type", True, "CRITICAL"),
                          ("state_message", True, _t("victorops.default.state_message")),
                          ("entity_display_name", True, _t("victorops.default.entity_display_name")),
                          ("monitoring_tool", True, _t("victorops.default.monitoring_tool")),
                          ("custom_fields", False, None)),
    "sns_configs": (("api_url", False, None), ("sigv4", True, {}), ("topic_arn", False, None),
                    ("phone_number", False, None), ("target_arn", False, None),
                    ("subject", False, _t("sns.default.subject")), ("message", False, _t("sns.default.message")),
                    ("attributes", False, None)),
    "telegram_configs": (("api_url", True, None), ("bot_token", False, None), ("chat_id", False, None),
                         ("message", False, _t("telegram.default.message")), ("disable_notifications", False, None),
                         ("parse_mode", False, "HTML")),
    "webex_configs": (("api_url", False, None), ("message", False, _t("webex.default.message")),
                      ("room_id", True, None)),
}
# Receiver's field order in Alertmanager 0.25, then the lists only this pipeline serves.
RECEIVER_ORDER = ("discord_configs", "email_configs", "pagerduty_configs", "slack_configs", "webhook_configs",
                  "opsgenie_configs", "wechat_configs", "pushover_configs", "victorops_configs", "sns_configs",
                  "telegram_configs", "webex_configs")
_POINTERS = {("email_configs", "require_tls")}  # *bool: false is written, only nil is omitted
_GO_DURATION_FIELDS = {("pushover_configs", "retry"), ("pushover_configs", "expire")}
_PAGERDUTY_DETAILS = {
    "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
    "resolved": '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
    "num_firing": "{{ .Alerts.Firing | len }}",
    "num_resolved": "{{ .Alerts.Resolved | len }}",
}


def _layout(list_key: str) -> tuple[tuple[str, bool, Any], ...]:
    if list_key in _LAYOUTS:
        return _LAYOUTS[list_key]
    spec: Obj = INTEGRATIONS[list_key]  # the pipeline's own lists: schema order, all omitempty
    return tuple((key, False, None) for key in spec.fields if key not in ("send_resolved", "http_config"))


def _value(list_key: str, key: str, value: Any, raw: Mapping[str, Any] | None) -> Any:
    spec = INTEGRATIONS[list_key].fields.get(key)
    if spec is SECRET or spec is SECRET_URL:  # config.Secret, config.SecretURL
        return _secret(value)
    if value is None:
        return None
    if (list_key, key) in _GO_DURATION_FIELDS:
        return go_duration(parse_go_duration(value))
    if key == "tls_config":
        return _tls(value)
    if key == "sigv4":
        return _fields(("region", value.get("region"), False), ("access_key", value.get("access_key"), False),
                       ("secret_key", _secret(value.get("secret_key")), False),
                       ("profile", value.get("profile"), False), ("role_arn", value.get("role_arn"), False))
    if list_key == "opsgenie_configs" and key == "responders":
        # Alertmanager lowercases a copy of each responder, so the API shows the type as written.
        written = (raw or {}).get("responders") or []
        return [_fields(("id", r.get("id"), False), ("name", r.get("name"), False),
                        ("username", r.get("username"), False),
                        ("type", (written[i] or {}).get("type", r.get("type")) if i < len(written) else r.get("type"),
                         False))
                for i, r in enumerate(value)]
    if list_key == "pagerduty_configs" and key in ("images", "links"):
        keys = ("src", "alt", "href") if key == "images" else ("href", "text")
        return [_fields(*((k, item.get(k), False) for k in keys)) for item in value]
    if list_key == "slack_configs" and key == "fields":
        return [{**_fields(("title", f.get("title"), False), ("value", f.get("value"), False)),
                 **({} if f.get("short") is None else {"short": f["short"]})}  # *bool: shown when set
                for f in value]
    if list_key == "slack_configs" and key == "actions":
        return [_fields(*((k, a.get(k), False) for k in ("type", "text", "url", "style", "name", "value")),
                        ("confirm", None if not a.get("confirm") else _fields(
                            *((k, a["confirm"].get(k), False) for k in ("text", "title", "ok_text", "dismiss_text"))),
                         False))
                for a in value]
    if isinstance(value, Mapping):
        return _go_map(value)
    return value


def integration_yaml(integration: Integration, raw: Mapping[str, Any] | None,
                     directory: str | None = None) -> dict[str, Any]:
    cfg = dict(integration.config)
    kind = integration.list_key
    if kind == "email_configs":
        headers = dict(cfg.get("headers") or {})
        headers.setdefault("Subject", '{{ template "email.default.subject" . }}')
        headers.setdefault("To", cfg.get("to", ""))
        headers.setdefault("From", cfg.get("from", ""))
        cfg["headers"] = headers
    if kind == "pagerduty_configs":
        cfg["details"] = {**_PAGERDUTY_DETAILS, **(cfg.get("details") or {})}
        if not cfg.get("source"):
            cfg["source"] = cfg.get("client", _t("pagerduty.default.client"))
    out: dict[str, Any] = {"send_resolved": bool(cfg.get("send_resolved"))}
    if "http_config" in INTEGRATIONS[kind].fields:
        http = http_config(_http_with_directory(cfg.get("http_config"), directory))
        if http is not None:
            out["http_config"] = http
    for key, always, default in _layout(kind):
        value = cfg[key] if key in cfg else default
        value = _value(kind, key, value, raw)
        if always or not _empty(value) or ((kind, key) in _POINTERS and value is not None):
            out[key] = value
    return out


# --- global, route, inhibition, time intervals -----------------------------------------------------

_GLOBAL_ORDER = (
    ("http_config", False), ("smtp_from", False), ("smtp_hello", False), ("smtp_smarthost", False),
    ("smtp_auth_username", False), ("smtp_auth_password", False), ("smtp_auth_password_file", False),
    ("smtp_auth_secret", False), ("smtp_auth_identity", False), ("smtp_require_tls", True),
    ("slack_api_url", False), ("slack_api_url_file", False), ("pagerduty_url", False), ("opsgenie_api_url", False),
    ("opsgenie_api_key", False), ("opsgenie_api_key_file", False), ("wechat_api_url", False),
    ("wechat_api_secret", False), ("wechat_api_corp_id", False), ("victorops_api_url", False),
    ("victorops_api_key", False), ("victorops_api_key_file", False), ("telegram_api_url", False),
    ("webex_api_url", False), ("jira_api_url", False),
)
_GLOBAL_SECRETS = {key for key, spec in GLOBAL.fields.items() if spec is SECRET or spec is SECRET_URL}


def global_yaml(config: AlertmanagerConfig, directory: str | None = None) -> dict[str, Any]:
    values = config.global_config.values
    out: dict[str, Any] = {"resolve_timeout": model_duration(config.resolve_timeout)}
    for key, always in _GLOBAL_ORDER:
        value = values.get(key)
        if key == "http_config":
            value = http_config(_http_with_directory(value, directory))
        elif key in _GLOBAL_SECRETS:
            value = _secret(value)
        elif key == "smtp_require_tls":
            value = bool(value)
        if always or not _empty(value):
            out[key] = value
    return out


def _matchers_yaml(lines: Any) -> list[str]:
    parsed = []
    for line in lines or []:
        parsed.extend(parse_matchers(line or ""))
    return [str(m) for m in Matchers(parsed).sorted()]


def route_yaml(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = _fields(
        ("receiver", raw.get("receiver"), False),
        ("group_by", list(raw.get("group_by") or []), False),
        ("match", _go_map(raw.get("match") or {}), False),
        ("match_re", _go_map(raw.get("match_re") or {}), False),
        ("matchers", _matchers_yaml(raw.get("matchers")), False),
        ("mute_time_intervals", list(raw.get("mute_time_intervals") or []), False),
        ("active_time_intervals", list(raw.get("active_time_intervals") or []), False),
        ("continue", bool(raw.get("continue")), True),
        ("routes", [route_yaml(child) for child in raw.get("routes") or []], False),
    )
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if raw.get(key) is not None:
            out[key] = model_duration(parse_model_duration(raw[key]))
    return out


def inhibit_rule_yaml(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    raw = raw or {}
    return _fields(
        ("source_match", _go_map(raw.get("source_match") or {}), False),
        ("source_match_re", _go_map(raw.get("source_match_re") or {}), False),
        ("source_matchers", _matchers_yaml(raw.get("source_matchers")), False),
        ("target_match", _go_map(raw.get("target_match") or {}), False),
        ("target_match_re", _go_map(raw.get("target_match_re") or {}), False),
        ("target_matchers", _matchers_yaml(raw.get("target_matchers")), False),
        ("equal", list(raw.get("equal") or []), False),
    )


class _Flow(list):
    """A list yaml.v2 writes in flow style (the ``,flow`` tag of the time interval fields)."""


def _intervals_yaml(config: AlertmanagerConfig, deprecated: bool) -> list[dict[str, Any]]:
    out = []
    for interval in config.time_intervals.values():
        if interval.deprecated_mute_key != deprecated:
            continue
        specs = []
        for spec in interval.time_intervals:
            shaped = spec.to_yaml()
            entry: dict[str, Any] = {}
            for key in ("times", "weekdays", "days_of_month", "months", "years", "location"):
                value = shaped.get(key)
                if _empty(value):
                    continue
                entry[key] = _Flow(value) if key not in ("times", "location") else value
            specs.append(entry)
        out.append({"name": interval.name, "time_intervals": specs})
    return out


def _join_dir(directory: str | None, path: Any) -> Any:
    """prometheus/common JoinDir: a relative path is joined to the directory (and cleaned, as Go's
    filepath.Join does); empty and absolute paths stay."""
    if not directory or not isinstance(path, str) or not path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(directory, path))


def _http_with_directory(cfg: Mapping[str, Any] | None, directory: str | None) -> Mapping[str, Any] | None:
    """HTTPClientConfig.SetDirectory: the file paths of TLS, basic auth, authorization, oauth2."""
    if cfg is None or not directory:
        return cfg

    def joined(block: Any, *keys: str) -> Any:
        if not isinstance(block, Mapping):
            return block
        return {**block, **{key: _join_dir(directory, block[key]) for key in keys if key in block}}

    out = joined(cfg, "bearer_token_file")
    out["tls_config"] = joined(out.get("tls_config"), "ca_file", "cert_file", "key_file")
    out["basic_auth"] = joined(out.get("basic_auth"), "password_file")
    out["authorization"] = joined(out.get("authorization"), "credentials_file")
    oauth2 = joined(out.get("oauth2"), "client_secret_file")
    if isinstance(oauth2, Mapping):
        oauth2 = {**oauth2, "tls_config": joined(oauth2.get("tls_config"), "ca_file", "cert_file", "key_file")}
    out["oauth2"] = oauth2
    return out


def status_yaml(config: AlertmanagerConfig, text: str, base_dir: str | os.PathLike[str] | None = None) -> str:
    """``config.original`` of ``GET /api/v2/status``: the configuration re-marshalled, secrets hidden.

    ``text`` is the file ``config`` was loaded from (already validated by the loader); ``base_dir``, the
    file's directory, against which Alertmanager's LoadFile resolves templates and HTTP client files."""
    directory = str(base_dir) if base_dir is not None else None
    raw = _plain(text)
    receivers_raw = {r.get("name"): r for r in raw.get("receivers") or [] if isinstance(r, Mapping)}
    receivers = []
    for receiver in config.receivers:
        entry: dict[str, Any] = {"name": receiver.name}
        raw_receiver = receivers_raw.get(receiver.name) or {}
        by_list: dict[str, list[dict[str, Any]]] = {}
        for integration in receiver.integrations:
            written = (raw_receiver.get(integration.list_key) or [])
            raw_entry = written[integration.index] if integration.index < len(written) else None
            by_list.setdefault(integration.list_key, []).append(integration_yaml(integration, raw_entry, directory))
        for list_key in (*RECEIVER_ORDER, *(k for k in INTEGRATIONS if k not in RECEIVER_ORDER)):
            if by_list.get(list_key):
                entry[list_key] = by_list[list_key]
        receivers.append(entry)
    document: dict[str, Any] = {"global": global_yaml(config, directory), "route": route_yaml(raw.get("route") or {})}
    inhibit_rules = [inhibit_rule_yaml(rule) for rule in raw.get("inhibit_rules") or []]
    if inhibit_rules:
        document["inhibit_rules"] = inhibit_rules
    if receivers:
        document["receivers"] = receivers
    document["templates"] = [_join_dir(directory, template) for template in raw.get("templates") or []]
    for key, deprecated in (("mute_time_intervals", True), ("time_intervals", False)):
        intervals = _intervals_yaml(config, deprecated)
        if intervals:
            document[key] = intervals
    return yaml.dump(document, Dumper=_GoDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=80)


# --- reading the file as Go reads it (every scalar as text) -------------------------------------------

def _plain(text: str) -> dict[str, Any]:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return {}
    value = _node_plain(At(node, ""))
    return value if isinstance(value, dict) else {}


_ROUTE_CONTINUE = re.compile(r"(?:^|\.)route(?:\.routes\[\d+\])*\.continue$")


def _node_plain(at: At) -> Any:
    node = at.node
    if isinstance(node, yaml.MappingNode):
        return {key: _node_plain(value) for key, _, value in at.mapping("map")}
    if isinstance(node, yaml.SequenceNode):
        return [_node_plain(item) for item in at.sequence()]
    if at.is_null:
        return None
    if _ROUTE_CONTINUE.search(at.path):
        return at.boolean()
    return str(node.value)


# --- yaml.v2's scalar styles ----------------------------------------------------------------------

_V2_BOOLS = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False",
             "FALSE", "on", "On", "ON", "off", "Off", "OFF"}
_V2_NULLS = {"", "~", "null", "Null", "NULL"}


class _GoDumper(yaml.SafeDumper):
    """Strings quoted as yaml.v2 quotes them: double quotes for text that would read back as another
    type (numbers, YAML 1.1 bools including y/n, null, base-60 numbers), literal blocks for multi-line
    text, the emitter's choice (plain or single quotes) otherwise."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: _GoDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    if _reads_as_other_type(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


# yaml.v2's isBase60Float: quoted so that YAML 1.1 readers do not take "09:00" for 540.
_V2_BASE60 = re.compile(r"\A[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")


def _reads_as_other_type(data: str) -> bool:
    if data in _V2_BOOLS or data in _V2_NULLS or _V2_BASE60.match(data):
        return True
    resolved = yaml.resolver.Resolver().resolve(yaml.ScalarNode, data, (True, False))
    return resolved != "tag:yaml.org,2002:str"


def _represent_flow(dumper: _GoDumper, data: _Flow) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(data), flow_style=True)


_GoDumper.add_representer(str, _represent_str)
_GoDumper.add_representer(_Flow, _represent_flow)

__all__ = ["SECRET_TOKEN", "go_duration", "http_config", "model_duration", "status_yaml"]
