"""What-if replay (issue #14 point 2): what a candidate Alertmanager configuration would have done to the
traffic Kafka still keeps, compared with what the current one did.

- :mod:`pipeline.whatif.recorded` reads the window: alert records of alerts.raw (or alerts.normalized)
  and the silences topic with their record timestamps (through pipeline.runtime, the only Kafka code);
- :mod:`pipeline.whatif.replay` runs that timeline through the real processors (normalize, dedup,
  classify with the rules only, mute, route, group) on the in-memory runtime, on simulated time;
- :mod:`pipeline.whatif.diff` compares two replays (notifications, muting, pages);
- :mod:`pipeline.whatif.report` prints the difference (text or JSON) and decides the exit code.
"""
