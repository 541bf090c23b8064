"""Alert sources: one model for every way alerts arrive, and the runner of the ones that are not pushed.

- ``model``: one YAML file per source, ``kind: push | poll | stream``, validated into a registry (pure);
- ``base``: what every source shares: normalization through the ingest formats, the labels it adds,
  its rate limit, metrics, health and the durable write to alerts.raw (pipeline.runtime.raw_writer);
- ``poll``: Prometheus, Alertmanager and generic JSON APIs asked on a schedule;
- ``nats``: a NATS JetStream durable consumer; ``kubernetes``: pods, nodes and warning events;
- ``runner``: ``pipeline sources run``, the process that runs poll and stream sources (push sources
  are served by the bridge), with its own /healthz, /readyz and /metrics;
- ``check``: ``pipeline sources list|check``.
"""
