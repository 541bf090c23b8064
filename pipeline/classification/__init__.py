"""Relabeling (normalize stage), rule-based and optional LLM classification (classify stage).

The pure parts (relabel, rules, signatures, breaker) have no I/O; the LLM client and its caches are
the only async code here.
"""
