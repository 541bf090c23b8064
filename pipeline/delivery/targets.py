"""Which connector a notification is for: its receiver by name, then its integration ("kind/index")."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from connectors.base import Connector
from pipeline.amconfig.model import AlertmanagerConfig, Receiver
from pipeline.models import Notification

ConnectorsFor = Callable[[Receiver], list[Connector]]


class UnknownTarget(LookupError):
    """The notification names a receiver or integration the configuration does not have (any more)."""


class Targets:
    """Every connector of a configuration, built once (a bad integration stops the worker at start)."""

    def __init__(self, connectors: Iterable[Connector]):
        self._by_integration = {(c.receiver, c.integration): c for c in connectors}

    @classmethod
    def from_config(cls, config: AlertmanagerConfig, connectors_for: ConnectorsFor) -> Targets:
        return cls(c for receiver in config.receivers for c in connectors_for(receiver))

    def __len__(self) -> int:
        return len(self._by_integration)

    async def aclose(self) -> None:
        """Release what connectors hold (SMTP connections, the Kafka sink's producer) at shutdown."""
        for connector in self._by_integration.values():
            await connector.aclose()

    def for_notification(self, notification: Notification) -> Connector:
        connector = self._by_integration.get((notification.receiver, notification.integration))
        if connector is None:
            raise UnknownTarget(f"no integration {notification.integration or '(none)'!r} in receiver "
                                f"{notification.receiver!r} of the Alertmanager configuration")
        return connector
