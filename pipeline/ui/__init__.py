"""The operator web UI, served by the bridge under ``/ui`` (see :mod:`pipeline.ui.app`).

The front end lives in ``web/`` (Preact, bundled by esbuild; ``deploy/local/setup.sh`` builds it) and its
built, committed assets in ``static/``. It consumes only the HTTP APIs the bridge serves.
"""

from pipeline.ui.app import MOUNT_PATH, ROLES, build_ui_app, caller_roles

__all__ = ["MOUNT_PATH", "ROLES", "build_ui_app", "caller_roles"]
