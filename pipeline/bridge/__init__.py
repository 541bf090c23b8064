"""The HTTP ingest bridge: where senders (Prometheus, Alertmanager, Grafana, anything else) hand
alerts to the pipeline.

``app`` is the ASGI application (Starlette) and ``server`` runs it under uvicorn with a durable
producer; ``openapi.yaml`` documents every endpoint. The pure building blocks know nothing of HTTP
frameworks or Kafka:

- ``sources``: one YAML file per sender (type, path, auth, limits), validated into a registry;
- ``auth``: bearer-token and HMAC-signature checks with a replay window, plus ``sign`` for senders;
- ``ratelimit``: token buckets per source, deterministic under an injected clock.
"""
