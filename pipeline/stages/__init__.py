"""Stream stages as Faust agents: one module per stage, each with ``run(settings)``.

Agents stay thin: decode, call the pure core, forward or dead-letter. The semantics live in the
pure modules they call.
"""
