"""Sources and sinks: one connector per module, all on one shared base."""
