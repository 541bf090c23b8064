"""E-mail over SMTP (aiosmtplib), one mail thread per alert group.

``email_configs`` as Alertmanager has them (global ``smtp_*`` fallbacks already applied by the
loader). Connection as Alertmanager makes it: port 465 is implicit TLS; otherwise ``require_tls``
(default true) demands STARTTLS and fails when the server does not offer it; authentication happens
only when ``auth_username`` is set and the server offers AUTH. ``tls_config`` ``ca_file``,
``cert_file``/``key_file``, ``insecure_skip_verify`` and ``min_version``/``max_version`` are honoured.

Each mail's Message-ID is derived from the notification id, so a retried send carries the same id
and mail systems collapse the duplicate. The group's first mail is the thread root (kept in the
ThreadStore); repeats and the resolved mail carry ``In-Reply-To``/``References`` to it. After a
resolved mail, the next firing opens a new thread.

Outcomes: connection errors, timeouts and SMTP 4xx are retryable; SMTP 5xx, refused recipients,
failed authentication and a missing STARTTLS are permanent. When only some recipients are refused the
mail went out to the others: delivered (a retry would duplicate it for them).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Any, ClassVar

import aiosmtplib
import httpx
from pydantic import Field, SecretStr, model_validator

from connectors.base import Connector, ConnectorConfig, DeliveryContext, OutboundRequest, Outcome
from connectors.sinks.common import TlsConfig, digest, secret_value
from connectors.sinks.templates import optional_template
from connectors.sinks.view import HTML, PLAIN, NotificationView
from pipeline.amconfig.values import split_host_port
from pipeline.models import Notification

SMTP_TIMEOUT_S = 30.0
TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class EmailConfig(ConnectorConfig):
    send_resolved: bool = False  # Alertmanager's default for e-mail
    to: str
    from_: str = Field("", alias="from")  # a Python keyword
    hello: str = "localhost"
    smarthost: str
    auth_username: str = ""
    auth_password: SecretStr | None = None
    auth_password_file: str = ""
    auth_secret: SecretStr | None = None
    auth_identity: str = ""
    headers: dict[str, str] = {}
    html: str = ""
    text: str = ""
    require_tls: bool = True
    tls_config: TlsConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> EmailConfig:
        if not self.from_:
            raise ValueError("missing from address in email config")
        if self.tls_config is not None and self.tls_config.server_name:
            raise ValueError("tls_config.server_name is not supported for e-mail (the smarthost name is used)")
        optional_template(self.html, "html")
        optional_template(self.text, "text")
        for key, value in self.headers.items():
            optional_template(value, f"headers.{key}")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = split_host_port(self.smarthost)
        return host, int(port)


def _domain(address: str, fallback: str) -> str:
    parsed = getaddresses([address])
    addr = parsed[0][1] if parsed else ""
    return addr.rpartition("@")[2] or fallback or "localhost"


class EmailConnector(Connector):
    kind: ClassVar[str] = "email"
    config_model: ClassVar[type[ConnectorConfig]] = EmailConfig
    config: EmailConfig

    @property
    def target_key(self) -> str:
        return f"email:{digest(self.config.smarthost, self.config.auth_username)}"

    def message_id(self, notification: Notification) -> str:
        return f"<{notification.id}.{self.index}@{_domain(self.config.from_, self.config.hello)}>"

    def message(self, notification: Notification, ctx: DeliveryContext,
                thread: Mapping[str, Any] | None = None) -> EmailMessage:
        view = NotificationView.of(notification, ctx.external_url)
        data = view.template_data(notification)
        headers = {"Subject": view.title, **{k: optional_template(v, k).render(data) if v else ""
                                             for k, v in self.config.headers.items()}}
        mail = EmailMessage()
        for name, value in headers.items():
            if name.lower() not in ("from", "to", "message-id", "in-reply-to", "references", "date"):
                mail[name] = value
        mail["From"] = headers.get("From", self.config.from_)
        mail["To"] = headers.get("To", self.config.to)
        mail["Date"] = format_datetime(ctx.now)
        mail["Message-ID"] = self.message_id(notification)
        root = open_root(thread)
        if root is not None:
            mail["In-Reply-To"] = root
            mail["References"] = root
        text_t, html_t = optional_template(self.config.text, "text"), optional_template(self.config.html, "html")
        default_text = "\n".join([view.title, "", *view.lines(PLAIN)])
        default_html = (f"<html><body><h3>{HTML.escape(view.title)}</h3><p>"
                        + "<br>\n".join(view.lines(HTML)) + "</p></body></html>")
        mail.set_content(text_t.render(data, default_text) if text_t else default_text)
        mail.add_alternative(html_t.render(data, default_html, HTML.escape) if html_t else default_html,
                             subtype="html")
        return mail

    def recipients(self) -> list[str]:
        return [addr for _, addr in getaddresses([self.config.to]) if addr]

    def render(self, notification: Notification, ctx: DeliveryContext,
               thread: Mapping[str, Any] | None = None) -> OutboundRequest:
        raise TypeError("e-mail is delivered over SMTP: use message() and deliver(), not render()")

    def classify(self, response: httpx.Response) -> Outcome:
        raise TypeError("e-mail is delivered over SMTP: outcomes come from classify_smtp()")

    def tls_context(self) -> ssl.SSLContext | None:
        tls = self.config.tls_config
        if tls is None or tls == TlsConfig():
            return None
        context = ssl.create_default_context(cafile=tls.ca_file or None)
        if tls.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
        if tls.min_version:
            context.minimum_version = TLS_VERSIONS[tls.min_version]
        if tls.max_version:
            context.maximum_version = TLS_VERSIONS[tls.max_version]
        return context

    async def deliver(self, notification: Notification, ctx: DeliveryContext) -> Outcome:
        thread = await ctx.threads.get(self.thread_key(notification))
        mail = self.message(notification, ctx, thread)
        host, port = self.config.host_port
        implicit_tls = port == 465
        client = aiosmtplib.SMTP(hostname=host, port=port, local_hostname=self.config.hello or None,
                                 use_tls=implicit_tls, start_tls=False, timeout=SMTP_TIMEOUT_S,
                                 tls_context=self.tls_context())
        try:
            await client.connect()
            try:
                if self.config.require_tls and not implicit_tls:
                    if not client.supports_extension("starttls"):
                        return Outcome.permanent(f"email: require_tls is true but {host} does not offer STARTTLS")
                    await client.starttls()
                if self.config.auth_username and client.supports_extension("auth"):
                    password = secret_value(self.config.auth_password, self.config.auth_password_file) or \
                        secret_value(self.config.auth_secret)
                    await client.login(self.config.auth_username, password)
                await client.send_message(mail, sender=self.config.from_, recipients=self.recipients())
            finally:
                if client.is_connected:
                    try:
                        await client.quit()
                    except aiosmtplib.SMTPException:
                        client.close()
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes
            return classify_smtp(exc)
        root = open_root(thread) or mail["Message-ID"]
        return Outcome.delivered(None, {"message_id": root, "resolved": notification.status == "resolved"})


def open_root(thread: Mapping[str, Any] | None) -> str | None:
    if not thread or not thread.get("message_id") or thread.get("resolved"):
        return None
    return str(thread["message_id"])


def classify_smtp(exc: BaseException) -> Outcome:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return Outcome.permanent("email: all recipients refused: " +
                                 "; ".join(f"{e.code} {e.message}" for e in exc.recipients)[:300])
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Outcome.permanent(f"email: TLS certificate not trusted: {exc.verify_message}"[:300])
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected,
                        aiosmtplib.SMTPTimeoutError, TimeoutError, ConnectionError, OSError)):
        return Outcome.retryable(f"email: {type(exc).__name__}: {exc}"[:300])
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = f"email: SMTP {exc.code} {exc.message}"[:300]
        return Outcome.retryable(reason) if 400 <= exc.code < 500 else Outcome.permanent(reason)
    return Outcome.permanent(f"email: {type(exc).__name__}: {exc}"[:300])
