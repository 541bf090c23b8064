"""Muting: silences, inhibition and time intervals, as pure Alertmanager 0.25 semantics.

No Kafka, no asyncio, no I/O; the current time is always passed in.
"""
