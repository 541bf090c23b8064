"""What every default message shows, computed once per notification, and its text renderings.

Default content (all targets): status and alert counts, priority, summary, the group's common
labels, and links — the alert's source (generator URL), runbook, Alertmanager and a pre-filled
"new silence" page — then one line per alert. Targets differ only in markup, so the lines are built
by one function with the target's ``Markup`` (plain, Slack mrkdwn, Markdown, HTML).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.sinks.common import external_url, firing, priority_of, resolved, silence_url, truncate
from pipeline.models import Alert, Notification

MAX_ALERT_LINES = 20  # beyond this the message says how many more there are
MAX_SUMMARY = 1024  # so one huge annotation cannot push everything else out of a size-limited message


@dataclass(frozen=True)
class Markup:
    escape: Callable[[str], str]
    bold: Callable[[str], str]
    link: Callable[[str, str], str]  # (text, url), text already escaped


PLAIN = Markup(lambda t: t, lambda t: t, lambda text, url: f"{text}: {url}")
HTML = Markup(lambda t: html.escape(t, quote=False), lambda t: f"<b>{t}</b>",
              lambda text, url: f'<a href="{html.escape(url)}">{text}</a>')
MARKDOWN = Markup(lambda t: t.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
                  .replace("*", "\\*").replace("_", "\\_"),
                  lambda t: f"**{t}**", lambda text, url: f"[{text}]({url})")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK = Markup(_slack_escape, lambda t: f"*{t}*", lambda text, url: f"<{url}|{text}>")


@dataclass(frozen=True)
class NotificationView:
    status: str
    firing_count: int
    resolved_count: int
    truncated: int
    priority: str
    title: str
    summary: str
    common_labels: dict[str, str]
    links: tuple[tuple[str, str], ...]  # (title, url), the non-empty ones
    alerts: tuple[Alert, ...]
    silence_url: str
    external_url: str

    @classmethod
    def of(cls, notification: Notification, fallback_external_url: str = "") -> NotificationView:
        n_firing, n_resolved = len(firing(notification)), len(resolved(notification))
        priority = priority_of(notification)
        first = notification.alerts[0] if notification.alerts else None
        annotations = notification.common_annotations
        summary = annotations.get("summary") or annotations.get("description") or (
            first.annotations.get("summary", "") if first else "")
        name = " ".join(notification.group_labels.values()) or notification.common_labels.get("alertname", "")
        count = f":{n_firing}" if notification.status == "firing" else ""
        title = f"[{notification.status.upper()}{count}]" + (f" {priority}" if priority else "") + (
            f" {name}" if name else "")
        base = external_url(notification, fallback_external_url)
        silence = silence_url(notification, fallback_external_url)
        runbook = annotations.get("runbook_url") or (first.annotations.get("runbook_url", "") if first else "")
        links = (("Source", first.generator_url if first else ""), ("Runbook", runbook),
                 ("Alertmanager", base), ("Silence", silence))
        return cls(
            status=notification.status, firing_count=n_firing, resolved_count=n_resolved,
            truncated=notification.truncated_alerts, priority=priority, title=title,
            summary=truncate(summary, MAX_SUMMARY),
            common_labels=dict(sorted(notification.common_labels.items())),
            links=tuple((t, u) for t, u in links if u), alerts=tuple(notification.alerts),
            silence_url=silence, external_url=base,
        )

    def template_data(self, notification: Notification) -> dict[str, Any]:
        """What ``{{ .Field }}`` in a per-receiver template can read (connectors.sinks.templates)."""
        return {
            "Status": self.status, "Receiver": notification.receiver, "ExternalURL": self.external_url,
            "GroupKey": notification.group_key, "GroupLabels": notification.group_labels,
            "CommonLabels": notification.common_labels, "CommonAnnotations": notification.common_annotations,
            "Priority": self.priority, "Title": self.title, "Summary": self.summary,
            "SilenceURL": self.silence_url, "FiringCount": self.firing_count,
            "ResolvedCount": self.resolved_count, "TruncatedAlerts": self.truncated,
        }

    def lines(self, markup: Markup = PLAIN, *, with_alerts: bool = True) -> list[str]:
        """The default body, one self-contained line each (safe to drop from the end to fit a limit)."""
        e, b = markup.escape, markup.bold
        out = [f"{b('Status')}: {e(self.status)} ({self.firing_count} firing, {self.resolved_count} resolved)"]
        if self.priority:
            out.append(f"{b('Priority')}: {e(self.priority)}")
        if self.summary:
            out.append(f"{b('Summary')}: {e(self.summary)}")
        if self.common_labels:
            out.append(f"{b('Labels')}: " + ", ".join(e(f"{k}={v}") for k, v in self.common_labels.items()))
        if self.links:
            out.append(" | ".join(markup.link(e(title), url) for title, url in self.links))
        if with_alerts:
            out.extend(self.alert_lines(markup))
        return out

    def alert_lines(self, markup: Markup = PLAIN) -> list[str]:
        e = markup.escape
        out = []
        for alert in self.alerts[:MAX_ALERT_LINES]:
            own = {k: v for k, v in sorted(alert.labels.items()) if self.common_labels.get(k) != v}
            text = alert.annotations.get("summary") or alert.labels.get("alertname", alert.fingerprint)
            line = f"- [{alert.status}] {e(text)}"
            if own:
                line += " (" + ", ".join(e(f"{k}={v}") for k, v in own.items()) + ")"
            if alert.generator_url:
                line += " " + markup.link(e("source"), alert.generator_url)
            out.append(line)
        more = len(self.alerts) - MAX_ALERT_LINES + self.truncated
        if more > 0:
            out.append(e(f"… and {more} more alert(s)"))
        return out


def fit_lines(lines: list[str], limit: int, measure: Callable[[str], int] = len, sep: str = "\n") -> str:
    """Join whole lines while they fit ``limit``; a cut says so. A first line alone too long is cut
    becomes the marker alone (the view caps summaries, so only absurd limits get there); markup is never
    split."""
    marker = "…"
    kept: list[str] = []
    for index, line in enumerate(lines):
        candidate = sep.join([*kept, line])
        remaining = index < len(lines) - 1
        if measure(candidate + (sep + marker if remaining else "")) > limit:
            return sep.join([*kept, marker])
        kept.append(line)
    return sep.join(kept)
