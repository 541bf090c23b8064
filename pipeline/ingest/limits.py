"""Size caps that keep hostile input from crashing or ballooning the stages.

Alertmanager has none of these; they are ours.  Sizes count UTF-8 bytes, as
Kafka and Avro do.  The total cap keeps one alert well under Kafka's default
1 MiB message limit even after later stages wrap it in bigger records.
"""

from __future__ import annotations

MAX_LABELS = 256
MAX_ANNOTATIONS = 256
MAX_NAME_BYTES = 1024
MAX_LABEL_VALUE_BYTES = 4 * 1024
MAX_ANNOTATION_VALUE_BYTES = 64 * 1024
MAX_GENERATOR_URL_BYTES = 16 * 1024
MAX_ALERT_TEXT_BYTES = 256 * 1024
