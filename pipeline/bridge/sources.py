"""The bridge's sources are the push sources of the one source model: pipeline.sources.model.

Kept as an import path for code written against it; new code imports pipeline.sources.model.
"""

from pipeline.sources.model import (  # noqa: F401
    AUTH_TYPES,
    DEFAULT_PATHS,
    MIB,
    AuthConfig,
    BearerAuth,
    HmacAuth,
    Limits,
    NoAuth,
    RateLimit,
    Source,
    SourceError,
    SourceRegistry,
    SourceType,
    describe_validation_error,
    load_source,
    load_sources,
    yaml_problem,
)
