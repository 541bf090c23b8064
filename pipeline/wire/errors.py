"""The two exceptions of pipeline.wire."""


class WireError(ValueError):
    """Bytes or a value that cannot be encoded/decoded; the message says why.

    Stages put the message into dead-letter records, so it names the problem
    (and never dumps the whole value).
    """


class SchemaError(Exception):
    """The schema files themselves are broken or break the evolution rule."""
