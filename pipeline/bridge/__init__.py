"""The HTTP ingest bridge: where senders (Prometheus, Alertmanager, Grafana, anything else) hand
alerts to the pipeline.

``app`` is the ASGI application (Starlette) and ``server`` runs it under uvicorn, writing through the
durable writer every source shares (pipeline.runtime.raw_writer); ``openapi.yaml`` documents every endpoint. The pure building blocks know nothing of HTTP
frameworks or Kafka:

- ``sources``: the push sources of the one source model (pipeline.sources.model), kept as an import path;
- ``auth``: bearer-token and HMAC-signature checks with a replay window, plus ``sign`` for senders;
- ``ratelimit``: token buckets per source, deterministic under an injected clock.
"""
