"""Who may reach the bridge's HTTP endpoints, and how: TLS, authentication, roles, request limits.

* :mod:`pipeline.web.config` reads the web configuration file (Alertmanager's ``--web.config.file``
  format, the Prometheus exporter-toolkit's, plus bearer tokens and roles) and decides whether a
  listen address is safe without authentication.
* :mod:`pipeline.web.access` is the ASGI middleware every request passes: it authenticates, puts the
  request's roles on ``request.state``, refuses what the route's role does not allow, bounds bodies
  and adds the configured response headers. Endpoints added later (reload, DLQ replay, a web UI under
  ``/ui``) declare their role and reuse it.
* :mod:`pipeline.web.tls` builds the server's TLS context (uvicorn) and reloads its certificate.
"""
