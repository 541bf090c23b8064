"""Alert pipeline on Apache Kafka: the pure semantic core and the thin stages around it."""

__version__ = "0.1.0"
