"""Enrichment workflows (in the spirit of cano-collector): triggers select alerts, ordered actions add
annotations and links. Configuration and template rendering are pure; the HTTP and script actions
are the only I/O, each bounded by its own timeout and isolated from the others."""
