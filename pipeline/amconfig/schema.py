"""The receivers' integration configurations of Alertmanager 0.25, as schemas.

Each integration block is checked field by field the way Alertmanager's yaml.v2 ``UnmarshalStrict``
and its ``UnmarshalYAML`` methods check it (unknown fields, Go types, the integration's own rules), and
then kept as a plain ``dict`` for the sinks, with Alertmanager's defaults from ``global`` applied.
The field sets were checked against Debian's amtool 0.25 (``amtool check-config``) one by one: for
example ``webhook_configs`` has no ``url_file``/``timeout`` and ``pushover_configs`` no ``device``/``ttl``
in 0.25, and ``msteams_configs`` and ``rocketchat_configs`` do not exist yet (they are refused, naming
the version that added them).

Two lists of Alertmanager 0.28 are accepted with 0.28's fields because the sinks serve them:
``msteamsv2_configs`` (Teams Workflows webhooks) and ``jira_configs`` (with ``global.jira_api_url``).
Three lists are pipeline extensions that no Alertmanager knows: ``servicenow_configs``,
``datadog_configs`` and ``kafka_configs`` (docs/connectors.md describes their keys); a config using
them is not portable back to Alertmanager.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.amconfig.errors import ConfigError
from pipeline.amconfig.nodes import At
from pipeline.amconfig.values import check_url, parse_go_duration, parse_model_duration, split_host_port

# -- field kinds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str


STR = Kind("string")
SECRET = Kind("string")  # config.Secret
BOOL = Kind("bool")
INT64 = Kind("int64")
UINT64 = Kind("uint64")
URL = Kind("URL")  # config.URL: http(s) with a host
SECRET_URL = Kind("SecretURL")  # config.SecretURL: a URL shown as <secret> by the API
ANY_URL = Kind("anyURL")  # prometheus/common config.URL: whatever net/url parses
HOSTPORT = Kind("HostPort")
GO_DURATION = Kind("duration")  # time.ParseDuration
STR_MAP = Kind("map[string]string")
STR_LIST = Kind("[]string")
TLS_VERSION = Kind("TLSVersion")
HEADER_MAP = Kind("map[string][]Secret")
ANY_MAP = Kind("map[string]any")  # free-form YAML (jira_configs.fields)
MODEL_DURATION = Kind("model.Duration")  # Prometheus durations: 1d, 5m, ...


@dataclass(frozen=True)
class Obj:
    go_type: str
    fields: Mapping[str, Any]
    validate: Callable[[dict[str, Any], At], None] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ListOf:
    item: Any


def convert(spec: Any, at: At) -> Any:
    """Check one value against its spec and return it as plain Python data (``None`` when null)."""
    if isinstance(spec, Obj):
        if at.is_null:
            return None
        given = at.fields(spec.fields, spec.go_type)
        out: dict[str, Any] = dict(spec.defaults)
        for key, value_at in given.items():
            value = convert(spec.fields[key], value_at)
            if value is not None:
                out[key] = value
        if spec.validate is not None:
            spec.validate(out, at)
        return out
    if isinstance(spec, ListOf):
        items = []
        for item_at in at.sequence():
            value = convert(spec.item, item_at)
            if value is None and isinstance(spec.item, Obj):
                raise item_at.error(f"null is not a valid {spec.item.go_type}")
            items.append(value)
        return items
    if spec is BOOL:
        return at.boolean()
    if spec is INT64:
        return at.integer("int64")
    if spec is UINT64:
        return at.integer("uint64", minimum=0)
    if spec is STR_MAP:
        return None if at.is_null else at.string_map()
    if spec is STR_LIST:
        return None if at.is_null else at.string_list()
    if spec is ANY_MAP:
        if at.is_null:
            return None
        return {key: value.plain() for key, _, value in at.mapping("map[string]interface {}")}
    if spec is HEADER_MAP:
        if at.is_null:
            return None
        return {key: value.string_list() for key, _, value in at.mapping("map")}
    if spec is SECRET or spec is SECRET_URL:
        try:
            text = at.string()
        except ConfigError:  # the message would quote the value
            raise at.error(f"cannot unmarshal {at._kind()} into {'config.Secret' if spec is SECRET else 'string'}"
                           ) from None
    else:
        text = at.string()
    if text is None:
        return None
    if spec is STR or spec is SECRET:
        return text
    if spec is URL or spec is SECRET_URL:
        try:
            return check_url(text)
        except ValueError as exc:
            # The key path and line say where; the value is not repeated (URLs carry credentials).
            raise at.error(_without(str(exc), text)) from None
    if spec is ANY_URL:
        try:
            _check_escapes(text)
        except ValueError as exc:
            raise at.error(_without(str(exc), text)) from None
        return text
    if spec is HOSTPORT:
        if text == "":
            return None
        try:
            _, port = split_host_port(text)
        except ValueError as exc:
            raise at.error(str(exc)) from None
        if port == "":
            raise at.error(f'address "{text}": port cannot be empty')
        return text
    if spec is GO_DURATION:
        try:
            parse_go_duration(text)
        except ValueError as exc:
            raise at.error(str(exc)) from None
        return text
    if spec is MODEL_DURATION:
        try:
            parse_model_duration(text)
        except ValueError as exc:
            raise at.error(str(exc)) from None
        return text
    if spec is TLS_VERSION:
        if text not in ("TLS10", "TLS11", "TLS12", "TLS13"):
            raise at.error(f"unknown TLS version: {text}")
        return text
    raise AssertionError(spec)  # pragma: no cover


def _without(message: str, value: str) -> str:
    """A URL error without any piece of the URL: the quoted value and every quoted fragment of it
    (port, escape, character) become ``<redacted>``; the scheme of "unsupported scheme" stays."""
    if value:
        message = message.replace(value, "<redacted>")
    if message.startswith("parse "):
        message = re.sub(r'"[^"]*"', '"<redacted>"', message)
    return message


def _check_escapes(text: str) -> None:
    for found in re.finditer(r"%(.{0,2})", text):
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", found.group(1)):
            raise ValueError(f'parse "{text}": invalid URL escape "{found.group(0)}"')


# -- prometheus/common config (v0.38): HTTP client, TLS; prometheus/sigv4 ------------------------------

TLS_CONFIG = Obj(
    "config.plain",
    {
        "ca_file": STR,
        "cert_file": STR,
        "key_file": STR,
        "server_name": STR,
        "insecure_skip_verify": BOOL,
        "min_version": TLS_VERSION,
        "max_version": TLS_VERSION,
    },
)


def _validate_http(cfg: dict[str, Any], at: At) -> None:
    """prometheus/common HTTPClientConfig.Validate (v0.38)."""
    bearer = cfg.get("bearer_token", "")
    bearer_file = cfg.get("bearer_token_file", "")
    basic = cfg.get("basic_auth")
    oauth2 = cfg.get("oauth2")
    authz = cfg.get("authorization")
    if bearer and bearer_file:
        raise at.error("at most one of bearer_token & bearer_token_file must be configured")
    if (basic is not None or oauth2 is not None) and (bearer or bearer_file):
        raise at.error("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured")
    if basic is not None and basic.get("password") and basic.get("password_file"):
        raise at.error("at most one of basic_auth password & password_file must be configured")
    if authz is not None:
        if bearer or bearer_file:
            raise at.error("authorization is not compatible with bearer_token & bearer_token_file")
        if authz.get("credentials") and authz.get("credentials_file"):
            raise at.error("at most one of authorization credentials & credentials_file must be configured")
        authz["type"] = authz.get("type", "").strip(" \t\n\r\v\f") or "Bearer"
        if authz["type"].lower() == "basic":
            raise at.error('authorization type cannot be set to "basic", use "basic_auth" instead')
        if basic is not None or oauth2 is not None:
            raise at.error("at most one of basic_auth, oauth2 & authorization must be configured")
    else:
        # The legacy bearer token becomes an Authorization header (Alertmanager does the same).
        if bearer:
            cfg["authorization"] = {"type": "Bearer", "credentials": cfg.pop("bearer_token")}
        if bearer_file:
            cfg["authorization"] = {"type": "Bearer", "credentials_file": cfg.pop("bearer_token_file")}
    if oauth2 is not None:
        if basic is not None:
            raise at.error("at most one of basic_auth, oauth2 & authorization must be configured")
        if not oauth2.get("client_id"):
            raise at.error("oauth2 client_id must be configured")
        if not oauth2.get("client_secret") and not oauth2.get("client_secret_file"):
            raise at.error("either oauth2 client_secret or client_secret_file must be configured")
        if not oauth2.get("token_url"):
            raise at.error("oauth2 token_url must be configured")
        if oauth2.get("client_secret") and oauth2.get("client_secret_file"):
            raise at.error("at most one of oauth2 client_secret & client_secret_file must be configured")
    if cfg.get("proxy_connect_header") and not cfg.get("proxy_url"):
        raise at.error("if proxy_connect_header is configured proxy_url must also be configured")


HTTP_CONFIG = Obj(
    "config.plain",
    {
        "basic_auth": Obj("config.BasicAuth", {"username": STR, "password": SECRET, "password_file": STR}),
        "authorization": Obj("config.Authorization", {"type": STR, "credentials": SECRET, "credentials_file": STR}),
        "oauth2": Obj(
            "config.plain",
            {
                "client_id": STR,
                "client_secret": SECRET,
                "client_secret_file": STR,
                "scopes": STR_LIST,
                "token_url": STR,
                "endpoint_params": STR_MAP,
                "tls_config": TLS_CONFIG,
                "proxy_url": ANY_URL,
            },
        ),
        "bearer_token": SECRET,
        "bearer_token_file": STR,
        "tls_config": TLS_CONFIG,
        "proxy_url": ANY_URL,
        "proxy_connect_header": HEADER_MAP,
        "follow_redirects": BOOL,
        "enable_http2": BOOL,
    },
    validate=_validate_http,
    defaults={"follow_redirects": True, "enable_http2": True},
)
DEFAULT_HTTP_CONFIG: Mapping[str, Any] = {"follow_redirects": True, "enable_http2": True}


def _validate_sigv4(cfg: dict[str, Any], at: At) -> None:
    if bool(cfg.get("access_key")) != bool(cfg.get("secret_key")):
        raise at.error(
            "must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"
        )


SIGV4 = Obj(
    "sigv4.plain",
    {"region": STR, "access_key": STR, "secret_key": SECRET, "profile": STR, "role_arn": STR},
    validate=_validate_sigv4,
)

# -- the integrations -----------------------------------------------------------------------------------


def _need(cfg: Mapping[str, Any], at: At, message: str, *keys: str) -> None:
    if not any(cfg.get(k) for k in keys):
        raise at.error(message)


def _at_most_one(cfg: Mapping[str, Any], at: At, a: str, b: str) -> None:
    if cfg.get(a) and cfg.get(b):
        raise at.error(f"at most one of {a} & {b} must be configured")


def _v_webhook(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing URL in webhook config", "url")
    _at_most_one(cfg, at, "signing_secret", "signing_secret_file")


def _canonical_mime_header(key: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey for ordinary header names."""
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+", key):
        return key
    return "-".join(part[:1].upper() + part[1:].lower() for part in key.split("-"))


def _v_email(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing to address in email config", "to")
    headers = cfg.get("headers")
    if headers:
        normalized: dict[str, str] = {}
        for key, value in headers.items():
            canonical = _canonical_mime_header(key)
            if canonical in normalized:
                raise at.error(f'duplicate header "{canonical}" in email config')
            normalized[canonical] = value
        cfg["headers"] = normalized


def _v_pagerduty(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing service or routing key in PagerDuty config",
          "routing_key", "service_key", "routing_key_file", "service_key_file")
    _at_most_one(cfg, at, "routing_key", "routing_key_file")
    _at_most_one(cfg, at, "service_key", "service_key_file")


def _v_slack_field(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing title in Slack field configuration", "title")
    _need(cfg, at, "missing value in Slack field configuration", "value")


def _v_slack_confirm(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing text in Slack confirmation configuration", "text")


def _v_slack_action(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing type in Slack action configuration", "type")
    _need(cfg, at, "missing text in Slack action configuration", "text")
    if cfg.get("url"):
        for key in ("name", "value", "confirm"):
            cfg.pop(key, None)
    elif not cfg.get("name"):
        raise at.error("missing name or url in Slack action configuration")


def _v_slack(cfg: dict[str, Any], at: At) -> None:
    _at_most_one(cfg, at, "api_url", "api_url_file")


_OPSGENIE_TYPES = re.compile(r"\A(team|teams|user|escalation|schedule)\Z")


def _v_opsgenie(cfg: dict[str, Any], at: At) -> None:
    _at_most_one(cfg, at, "api_key", "api_key_file")
    for responder in cfg.get("responders", []):
        shown = "{%s %s %s %s}" % (responder.get("id", ""), responder.get("name", ""),
                                   responder.get("username", ""), responder.get("type", ""))
        if not (responder.get("id") or responder.get("username") or responder.get("name")):
            raise at.error(f"opsGenieConfig responder {shown} has to have at least one of id, username or name specified")
        kind = responder.get("type", "")
        if "{{" not in kind:
            responder["type"] = kind = kind.lower()
            if not _OPSGENIE_TYPES.match(kind):
                raise at.error(
                    f"opsGenieConfig responder {shown} type does not match valid options "
                    "^(team|teams|user|escalation|schedule)$"
                )


def _v_wechat(cfg: dict[str, Any], at: At) -> None:
    cfg.setdefault("message_type", "text")
    if cfg["message_type"] == "":
        cfg["message_type"] = "text"
    if cfg["message_type"] not in ("text", "markdown"):
        raise at.error(f'weChat message type "{cfg["message_type"]}" does not match valid options ^(text|markdown)$')


_VICTOROPS_RESERVED = ("routing_key", "message_type", "state_message", "entity_display_name",
                       "monitoring_tool", "entity_id", "entity_state")


def _v_victorops(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing Routing key in VictorOps config", "routing_key")
    _at_most_one(cfg, at, "api_key", "api_key_file")
    for key in _VICTOROPS_RESERVED:
        if key in cfg.get("custom_fields", {}):
            raise at.error(f"victorOps config contains custom field {key} which cannot be used as it conflicts "
                           "with the fixed/static fields")


def _v_pushover(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing user key in Pushover config", "user_key")
    _need(cfg, at, "missing token in Pushover config", "token")


def _v_sns(cfg: dict[str, Any], at: At) -> None:
    # Go evaluates (a == "") != (b == "") != (c == ""): exactly one set passes, and so do all three.
    if ((not cfg.get("target_arn")) != (not cfg.get("topic_arn"))) != (not cfg.get("phone_number")):
        raise at.error("must provide either a Target ARN, Topic ARN, or Phone Number for SNS config")


def _v_telegram(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing bot_token on telegram_config", "bot_token")
    if not cfg.get("chat_id"):
        raise at.error("missing chat_id on telegram_config")
    if cfg.get("parse_mode", "") not in ("", "Markdown", "MarkdownV2", "HTML"):
        raise at.error("unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string")


def _v_webex(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing room_id on webex_config", "room_id")
    http = cfg.get("http_config")
    if http is None or http.get("authorization") is None:
        raise at.error("missing webex_configs.http_config.authorization")


def _v_msteamsv2(cfg: dict[str, Any], at: At) -> None:
    if not cfg.get("webhook_url") and not cfg.get("webhook_url_file"):
        raise at.error("one of webhook_url or webhook_url_file must be configured")
    _at_most_one(cfg, at, "webhook_url", "webhook_url_file")


def _v_jira(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing project in jira_config", "project")
    _need(cfg, at, "missing issue_type in jira_config", "issue_type")


def _v_servicenow(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing instance_url in servicenow_config", "instance_url")
    http = cfg.get("http_config") or {}
    if http.get("basic_auth") is None and http.get("authorization") is None:
        raise at.error("missing servicenow_configs.http_config.basic_auth or authorization")


def _v_datadog(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing api_key or api_key_file in datadog_config", "api_key", "api_key_file")
    _at_most_one(cfg, at, "api_key", "api_key_file")
    if cfg.get("priority", "normal") not in ("normal", "low"):
        raise at.error('datadog_config priority must be "normal" or "low"')


def _v_kafka(cfg: dict[str, Any], at: At) -> None:
    _need(cfg, at, "missing topic in kafka_config", "topic")
    if cfg.get("key", "group") not in ("group", "notification", "none"):
        raise at.error('kafka_config key must be "group", "notification" or "none"')


def _integration(go_type: str, send_resolved: bool, fields: dict[str, Any], validate: Any, **defaults: Any) -> Obj:
    return Obj(go_type, {"send_resolved": BOOL, **fields}, validate=validate,
               defaults={"send_resolved": send_resolved, **defaults})


_SLACK_CONFIRM = Obj("config.plain", {"text": STR, "title": STR, "ok_text": STR, "dismiss_text": STR},
                     validate=_v_slack_confirm)

INTEGRATIONS: dict[str, Obj] = {
    "email_configs": _integration("config.plain", False, {
        "to": STR, "from": STR, "hello": STR, "smarthost": HOSTPORT, "auth_username": STR,
        "auth_password": SECRET, "auth_password_file": STR, "auth_secret": SECRET, "auth_identity": STR,
        "headers": STR_MAP, "html": STR, "text": STR, "require_tls": BOOL, "tls_config": TLS_CONFIG,
    }, _v_email),
    "pagerduty_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "service_key": SECRET, "service_key_file": STR, "routing_key": SECRET,
        "routing_key_file": STR, "url": URL, "client": STR, "client_url": STR, "description": STR,
        "details": STR_MAP,
        "images": ListOf(Obj("config.PagerdutyImage", {"src": STR, "alt": STR, "href": STR})),
        "links": ListOf(Obj("config.PagerdutyLink", {"href": STR, "text": STR})),
        "source": STR, "severity": STR, "class": STR, "component": STR, "group": STR,
    }, _v_pagerduty),
    "slack_configs": _integration("config.plain", False, {
        "http_config": HTTP_CONFIG, "api_url": SECRET_URL, "api_url_file": STR, "channel": STR, "username": STR,
        "color": STR, "title": STR, "title_link": STR, "pretext": STR, "text": STR,
        "fields": ListOf(Obj("config.plain", {"title": STR, "value": STR, "short": BOOL}, validate=_v_slack_field)),
        "short_fields": BOOL, "footer": STR, "fallback": STR, "callback_id": STR, "icon_emoji": STR,
        "icon_url": STR, "image_url": STR, "thumb_url": STR, "link_names": BOOL, "mrkdwn_in": STR_LIST,
        "actions": ListOf(Obj("config.plain", {
            "type": STR, "text": STR, "url": STR, "style": STR, "name": STR, "value": STR,
            "confirm": _SLACK_CONFIRM,
        }, validate=_v_slack_action)),
    }, _v_slack),
    "webhook_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "url": URL, "max_alerts": UINT64,
        # pipeline extension: HMAC-SHA256 request signing (docs/connectors.md)
        "signing_secret": SECRET, "signing_secret_file": STR,
    }, _v_webhook),
    "opsgenie_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "api_key": SECRET, "api_key_file": STR, "api_url": URL, "message": STR,
        "description": STR, "source": STR, "details": STR_MAP, "entity": STR,
        "responders": ListOf(Obj("config.OpsGenieConfigResponder", {"id": STR, "name": STR, "username": STR, "type": STR})),
        "actions": STR, "tags": STR, "note": STR, "priority": STR, "update_alerts": BOOL,
    }, _v_opsgenie),
    "wechat_configs": _integration("config.plain", False, {
        "http_config": HTTP_CONFIG, "api_secret": SECRET, "corp_id": STR, "message": STR, "api_url": URL,
        "to_user": STR, "to_party": STR, "to_tag": STR, "agent_id": STR, "message_type": STR,
    }, _v_wechat),
    "pushover_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "user_key": SECRET, "token": SECRET, "title": STR, "message": STR,
        "url": STR, "url_title": STR, "sound": STR, "priority": STR, "retry": GO_DURATION,
        "expire": GO_DURATION, "html": BOOL,
    }, _v_pushover),
    "victorops_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "api_key": SECRET, "api_key_file": STR, "api_url": URL,
        "routing_key": STR, "message_type": STR, "state_message": STR, "entity_display_name": STR,
        "monitoring_tool": STR, "custom_fields": STR_MAP,
    }, _v_victorops),
    "sns_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "api_url": STR, "sigv4": SIGV4, "topic_arn": STR, "phone_number": STR,
        "target_arn": STR, "subject": STR, "message": STR, "attributes": STR_MAP,
    }, _v_sns),
    "telegram_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "api_url": URL, "bot_token": SECRET, "chat_id": INT64, "message": STR,
        "disable_notifications": BOOL, "parse_mode": STR,
    }, _v_telegram),
    "discord_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "webhook_url": SECRET_URL, "title": STR, "message": STR,
    }, None),
    "webex_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "api_url": URL, "message": STR, "room_id": STR,
    }, _v_webex),
    # -- Alertmanager 0.28 lists the sinks serve (0.28's field sets)
    "msteamsv2_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "webhook_url": SECRET_URL, "webhook_url_file": STR, "title": STR, "text": STR,
    }, _v_msteamsv2),
    "jira_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "api_url": URL, "project": STR, "summary": STR, "description": STR,
        "labels": STR_LIST, "priority": STR, "issue_type": STR, "reopen_transition": STR,
        "resolve_transition": STR, "wont_fix_resolution": STR, "reopen_duration": MODEL_DURATION,
        "fields": ANY_MAP,
    }, _v_jira),
    # -- pipeline extensions (no Alertmanager has them; docs/connectors.md)
    "servicenow_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "instance_url": URL, "table": STR, "short_description": STR,
        "description": STR, "assignment_group": STR, "caller_id": STR, "category": STR,
        "close_code": STR, "close_notes": STR, "resolved_state": STR, "fields": STR_MAP,
    }, _v_servicenow),
    "datadog_configs": _integration("config.plain", True, {
        "http_config": HTTP_CONFIG, "api_key": SECRET, "api_key_file": STR, "api_url": URL, "title": STR,
        "text": STR, "tags": STR_LIST, "priority": STR, "host": STR, "source_type_name": STR,
    }, _v_datadog),
    "kafka_configs": _integration("config.plain", True, {
        "topic": STR, "key": STR, "headers": STR_MAP,
    }, _v_kafka),
}

# Integration lists of later Alertmanager versions: refused by 0.25, and so here, with a clear reason.
NEWER_INTEGRATIONS = {
    "msteams_configs": "0.26",
    "rocketchat_configs": "0.28",
    "incidentio_configs": "a later release",
    "mattermost_configs": "a later release",
}

# What the list name means, for the sinks: "webhook_configs" -> "webhook".
INTEGRATION_KINDS = {key: key.removesuffix("_configs") for key in INTEGRATIONS}

# -- global ---------------------------------------------------------------------------------------------

GLOBAL = Obj("config.plain", {
    "resolve_timeout": STR,  # checked by the loader (model.Duration)
    "http_config": HTTP_CONFIG,
    "smtp_from": STR, "smtp_hello": STR, "smtp_smarthost": HOSTPORT, "smtp_auth_username": STR,
    "smtp_auth_password": SECRET, "smtp_auth_password_file": STR, "smtp_auth_secret": SECRET,
    "smtp_auth_identity": STR, "smtp_require_tls": BOOL,
    "slack_api_url": SECRET_URL, "slack_api_url_file": STR,
    "pagerduty_url": URL,
    "opsgenie_api_url": URL, "opsgenie_api_key": SECRET, "opsgenie_api_key_file": STR,
    "wechat_api_url": URL, "wechat_api_secret": SECRET, "wechat_api_corp_id": STR,
    "victorops_api_url": URL, "victorops_api_key": SECRET, "victorops_api_key_file": STR,
    "telegram_api_url": URL,
    "webex_api_url": URL,
    "jira_api_url": URL,  # Alertmanager 0.28
})

GLOBAL_DEFAULTS: Mapping[str, Any] = {
    "http_config": DEFAULT_HTTP_CONFIG,
    "smtp_hello": "localhost",
    "smtp_require_tls": True,
    "pagerduty_url": "https://events.pagerduty.com/v2/enqueue",
    "opsgenie_api_url": "https://api.opsgenie.com/",
    "wechat_api_url": "https://qyapi.weixin.qq.com/cgi-bin/",
    "victorops_api_url": "https://alert.victorops.com/integrations/generic/20131114/alert/",
    "telegram_api_url": "https://api.telegram.org",
    "webex_api_url": "https://webexapis.com/v1/messages",
}


def _with_slash(url: str) -> str:
    """Alertmanager appends "/" to the URL path of OpsGenie, WeChat and VictorOps API URLs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.path.endswith("/"):
        return url
    return urlunsplit(parts._replace(path=parts.path + "/"))


def apply_global(kind_key: str, cfg: dict[str, Any], g: Mapping[str, Any], fail: Callable[[str], ConfigError]) -> None:
    """Alertmanager's Config.UnmarshalYAML: fill an integration from ``global`` (or refuse it)."""
    if "http_config" in INTEGRATIONS[kind_key].fields and cfg.get("http_config") is None:
        cfg["http_config"] = dict(g.get("http_config") or DEFAULT_HTTP_CONFIG)
    if kind_key == "email_configs":
        if not cfg.get("smarthost"):
            if not g.get("smtp_smarthost"):
                raise fail("no global SMTP smarthost set")
            cfg["smarthost"] = g["smtp_smarthost"]
        if not cfg.get("from"):
            if not g.get("smtp_from"):
                raise fail("no global SMTP from set")
            cfg["from"] = g["smtp_from"]
        if not cfg.get("hello"):
            cfg["hello"] = g.get("smtp_hello", "")
        if not cfg.get("auth_username"):
            cfg["auth_username"] = g.get("smtp_auth_username", "")
        if not cfg.get("auth_password") and not cfg.get("auth_password_file"):
            cfg["auth_password"] = g.get("smtp_auth_password", "")
            cfg["auth_password_file"] = g.get("smtp_auth_password_file", "")
        if not cfg.get("auth_secret"):
            cfg["auth_secret"] = g.get("smtp_auth_secret", "")
        if not cfg.get("auth_identity"):
            cfg["auth_identity"] = g.get("smtp_auth_identity", "")
        if cfg.get("require_tls") is None:
            cfg["require_tls"] = g.get("smtp_require_tls", True)
    elif kind_key == "slack_configs":
        if not cfg.get("api_url") and not cfg.get("api_url_file"):
            if not g.get("slack_api_url") and not g.get("slack_api_url_file"):
                raise fail("no global Slack API URL set either inline or in a file")
            if g.get("slack_api_url"):
                cfg["api_url"] = g["slack_api_url"]
            if g.get("slack_api_url_file"):
                cfg["api_url_file"] = g["slack_api_url_file"]
    elif kind_key == "pagerduty_configs":
        if not cfg.get("url"):
            if not g.get("pagerduty_url"):
                raise fail("no global PagerDuty URL set")
            cfg["url"] = g["pagerduty_url"]
    elif kind_key == "opsgenie_configs":
        if not cfg.get("api_url"):
            if not g.get("opsgenie_api_url"):
                raise fail("no global OpsGenie URL set")
            cfg["api_url"] = g["opsgenie_api_url"]
        cfg["api_url"] = _with_slash(cfg["api_url"])
        if not cfg.get("api_key") and not cfg.get("api_key_file"):
            if not g.get("opsgenie_api_key") and not g.get("opsgenie_api_key_file"):
                raise fail("no global OpsGenie API Key set either inline or in a file")
            if g.get("opsgenie_api_key"):
                cfg["api_key"] = g["opsgenie_api_key"]
            if g.get("opsgenie_api_key_file"):
                cfg["api_key_file"] = g["opsgenie_api_key_file"]
    elif kind_key == "wechat_configs":
        if not cfg.get("api_url"):
            if not g.get("wechat_api_url"):
                raise fail("no global Wechat URL set")
            cfg["api_url"] = g["wechat_api_url"]
        if not cfg.get("api_secret"):
            if not g.get("wechat_api_secret"):
                raise fail("no global Wechat ApiSecret set")
            cfg["api_secret"] = g["wechat_api_secret"]
        if not cfg.get("corp_id"):
            if not g.get("wechat_api_corp_id"):
                raise fail("no global Wechat CorpID set")
            cfg["corp_id"] = g["wechat_api_corp_id"]
        cfg["api_url"] = _with_slash(cfg["api_url"])
    elif kind_key == "victorops_configs":
        if not cfg.get("api_url"):
            if not g.get("victorops_api_url"):
                raise fail("no global VictorOps URL set")
            cfg["api_url"] = g["victorops_api_url"]
        cfg["api_url"] = _with_slash(cfg["api_url"])
        if not cfg.get("api_key") and not cfg.get("api_key_file"):
            if not g.get("victorops_api_key") and not g.get("victorops_api_key_file"):
                raise fail("no global VictorOps API Key set")
            if g.get("victorops_api_key"):
                cfg["api_key"] = g["victorops_api_key"]
            if g.get("victorops_api_key_file"):
                cfg["api_key_file"] = g["victorops_api_key_file"]
    elif kind_key == "telegram_configs":
        if not cfg.get("api_url"):
            if not g.get("telegram_api_url"):
                raise fail("no global Telegram URL set")
            cfg["api_url"] = g["telegram_api_url"]
    elif kind_key == "webex_configs":
        if not cfg.get("api_url"):
            if not g.get("webex_api_url"):
                raise fail("no global Webex URL set")
            cfg["api_url"] = g["webex_api_url"]
    elif kind_key == "jira_configs":
        if not cfg.get("api_url"):
            if not g.get("jira_api_url"):
                raise fail("no global Jira Cloud URL set")
            cfg["api_url"] = g["jira_api_url"]
    elif kind_key == "datadog_configs":
        if not cfg.get("api_url"):
            cfg["api_url"] = "https://api.datadoghq.com"
    elif kind_key == "discord_configs":
        if not cfg.get("webhook_url"):
            raise fail("no discord webhook URL provided")
