"""The e-mail connector against a local aiosmtpd server: envelope, headers, threading, SMTP outcomes."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from connectors.base import Outcome
from pipeline.devenv.process import free_port
from tests.unit.connectors.factories import MemoryThreadStore, alert, build, context, notification


class Recorder:
    def __init__(self, rcpt_answer: str = "250 OK", data_answer: str = "250 Message accepted") -> None:
        self.mails: list[tuple[str, list[str], EmailMessage]] = []
        self.rcpt_answer, self.data_answer = rcpt_answer, data_answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd API)
        if self.rcpt_answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_answer

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        if self.data_answer.startswith("250"):
            mail = message_from_bytes(envelope.content, policy=policy.default)
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), mail))
        return self.data_answer


@pytest.fixture
def smtp():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


def email_connector(port: int, extra: str = ""):
    (connector,) = build(f"  email_configs: [{{to: 'oncall@example.com, Bob <bob@example.com>',"
                         f" from: 'alerts@example.com', smarthost: '127.0.0.1:{port}', require_tls: false,"
                         f" send_resolved: true{extra}}}]")
    return connector


def deliver(connector, item, threads) -> Outcome:
    async def run() -> Outcome:
        outcome = await connector.deliver(item, context(threads=threads))
        if outcome.kind == "delivered" and outcome.thread_state is not None:
            await threads.put(connector.thread_key(item), outcome.thread_state)
        return outcome
    return asyncio.run(run())


def test_firing_then_resolved_mail_threads_under_the_first(smtp) -> None:
    recorder, port = smtp
    connector = email_connector(port, ", headers: {Subject: '[{{ .Status }}] {{ .CommonLabels.team }}'}")
    threads = MemoryThreadStore()
    firing = notification(alert(), integration="email/0")
    assert deliver(connector, firing, threads).kind == "delivered"
    assert deliver(connector, notification(alert(status="resolved"), integration="email/0", flush_seq=4),
                   threads).kind == "delivered"
    (sender, rcpts, first), (_, _, second) = recorder.mails
    assert sender == "alerts@example.com" and rcpts == ["oncall@example.com", "bob@example.com"]
    assert first["Subject"] == "[firing] ops" and second["Subject"] == "[resolved] ops"
    assert first["Message-ID"] == f"<{firing.id}.0@example.com>"
    assert "In-Reply-To" not in first
    assert second["In-Reply-To"] == first["Message-ID"] and second["References"] == first["Message-ID"]
    assert second["Message-ID"] != first["Message-ID"]
    text = first.get_body(("plain",)).get_content()
    html = first.get_body(("html",)).get_content()
    assert "Priority: P1" in text and "Silence: http://alertmanager:9093/#/silences/new?filter=" in text
    assert "<b>Summary</b>: DiskFull on db-1" in html


def test_retried_send_keeps_its_message_id(smtp) -> None:
    recorder, port = smtp
    connector = email_connector(port)
    item = notification(integration="email/0")
    deliver(connector, item, MemoryThreadStore())
    deliver(connector, item, MemoryThreadStore())
    assert recorder.mails[0][2]["Message-ID"] == recorder.mails[1][2]["Message-ID"]


def test_require_tls_without_starttls_is_permanent(smtp) -> None:
    _, port = smtp
    (connector,) = build(f"  email_configs: [{{to: a@example.com, from: b@example.com, smarthost: '127.0.0.1:{port}'}}]")
    outcome = deliver(connector, notification(), MemoryThreadStore())
    assert outcome.kind == "permanent" and "STARTTLS" in outcome.reason


@pytest.mark.parametrize("rcpt,data,kind", [("550 5.1.1 no such user", "250 OK", "permanent"),
                                            ("250 OK", "451 4.3.0 try again later", "retryable"),
                                            ("250 OK", "554 5.7.1 rejected", "permanent")])
def test_smtp_answers_are_classified(smtp, rcpt: str, data: str, kind: str) -> None:
    recorder, port = smtp
    recorder.rcpt_answer, recorder.data_answer = rcpt, data
    outcome = deliver(email_connector(port), notification(), MemoryThreadStore())
    assert outcome.kind == kind, outcome.reason


def test_no_server_is_retryable() -> None:
    outcome = deliver(email_connector(free_port()), notification(), MemoryThreadStore())
    assert outcome.kind == "retryable"
