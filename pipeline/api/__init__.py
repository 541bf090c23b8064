"""Alertmanager API v2, read and silence side, served by the bridge from a materialized view.

``view.ApiView`` holds every silence and active alert (fed by ``view.ViewFollower`` from the
``silences`` and ``alerts.enriched`` topics); ``handlers.AlertmanagerApi`` answers as Alertmanager
0.25 does, so ``amtool`` works unchanged. ``handlers.create_api(settings, producer)`` wires both.
"""
