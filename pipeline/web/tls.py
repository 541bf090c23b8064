"""The server's TLS context from ``tls_server_config``, for uvicorn (its ``ssl_context_factory``).

exporter-toolkit's semantics where Python's ssl module has them: minimum and maximum version
(default TLS 1.2 to 1.3), cipher suites by Go name (TLS 1.2 and below; TLS 1.3's suites are not
configurable, in Go either), one curve, server cipher preference, and client certificates verified
against ``client_ca_file`` (``VerifyClientCertIfGiven``: verified when sent; ``RequireAndVerifyClientCert``:
required). exporter-toolkit loads the certificate again for every handshake; here the certificate and
key are reloaded into the live context when their files change (checked with the web configuration,
at most once a second), so a renewed certificate is served without a restart.
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import Any

from pipeline.web.config import GO_CIPHER_SUITES, GO_CURVES, TLS_VERSIONS, TlsFiles, WebConfig, WebConfigError

log = logging.getLogger(__name__)


class ServerTls:
    """A server SSLContext built from the web configuration, with its certificate reloadable."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self.context = build_context(files)
        self._loaded = _stamp(files)

    def reload_certificate(self, files: TlsFiles | None = None) -> bool:
        """Load the certificate and key again if their files changed (or were renamed in the web
        configuration); the running server serves the new one from the next handshake. A broken pair
        is logged and the previous one stays."""
        files = files or self.files
        stamp = _stamp(files)
        if stamp == self._loaded:
            return False
        try:
            self.context.load_cert_chain(str(files.cert_file), str(files.key_file))
        except (OSError, ssl.SSLError) as exc:
            log.error("the TLS certificate %s / key %s could not be loaded, the previous one stays: %s",
                      files.cert_file, files.key_file, exc)
            self._loaded = stamp  # logged once per change
            return False
        self.files, self._loaded = files, stamp
        log.info("TLS certificate reloaded from %s", files.cert_file)
        return True


def build_context(files: TlsFiles) -> ssl.SSLContext:
    """The SSLContext for these settings; raises :class:`WebConfigError` naming the file at fault."""
    settings = files.settings
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[settings.min_version]
    context.maximum_version = TLS_VERSIONS[settings.max_version]
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    if settings.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if settings.min_version in ("TLS10", "TLS11"):
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL refuses TLS < 1.2 at its default level
    if settings.cipher_suites:
        context.set_ciphers(":".join(_openssl_cipher_names(settings.cipher_suites)))
    if settings.curve_preferences:
        context.set_ecdh_curve(GO_CURVES[settings.curve_preferences[0]])
    for key, path in (("cert_file", files.cert_file), ("key_file", files.key_file),
                      ("client_ca_file", files.client_ca_file)):
        if path is not None and not path.is_file():
            raise WebConfigError(f"tls_server_config.{key}: {path}: no such file")
    try:
        context.load_cert_chain(str(files.cert_file), str(files.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"tls_server_config: failed to load the certificate {files.cert_file} and key "
                             f"{files.key_file}: {exc}") from None
    if files.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(files.client_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"tls_server_config: client_ca_file {files.client_ca_file}: {exc}") from None
        context.verify_mode = (ssl.CERT_REQUIRED if settings.client_auth_type == "RequireAndVerifyClientCert"
                               else ssl.CERT_OPTIONAL)
    return context


def _openssl_cipher_names(go_names: tuple[str, ...]) -> list[str]:
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    probe.set_ciphers("ALL:@SECLEVEL=0")
    by_code = {cipher["id"] & 0xFFFF: cipher["name"] for cipher in probe.get_ciphers()}
    names = []
    for go_name in go_names:
        name = by_code.get(GO_CIPHER_SUITES[go_name])
        if name is None:
            raise WebConfigError(f"tls_server_config.cipher_suites: {go_name} is not available in this "
                                 f"OpenSSL ({ssl.OPENSSL_VERSION})")
        names.append(name)
    return names


def _stamp(files: TlsFiles) -> tuple[Any, ...]:
    out: list[Any] = [str(files.cert_file), str(files.key_file)]
    for path in (files.cert_file, files.key_file):
        try:
            stat = os.stat(path)
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


# The context of this process, for the web configuration's reload (set by the uvicorn factory).
_current: ServerTls | None = None


def uvicorn_context_factory(web_config_path: str, _config: Any = None, _default: Any = None) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory`` (bound to the file with functools.partial, so worker processes
    can rebuild it): the context from the web configuration's TLS settings."""
    from pipeline.web.config import load_web_config

    global _current
    config = load_web_config(web_config_path)
    if config.tls is None:
        raise WebConfigError(f"{web_config_path}: no tls_server_config")
    _current = ServerTls(config.tls)
    return _current.context


def reload_certificate(config: WebConfig) -> None:
    """Hook for the authenticator's reload: pick up a renewed certificate in this process."""
    if _current is not None and config.tls is not None:
        _current.reload_certificate(config.tls)
