"""Local development services (Kafka broker, Redis) started without Docker.

Used by ``pipeline dev``, by the test fixtures when no broker is given, and by CI.
"""

from pipeline.devenv.process import DevEnvError, ManagedProcess

__all__ = ["DevEnvError", "ManagedProcess"]
