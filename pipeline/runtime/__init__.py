"""The stage runtime: every piece of Kafka and Faust code of the product lives in this package.

Nothing outside it imports faust, aiokafka or confluent_kafka. Stages are processors (pipeline.stages)
that never see a topic, a consumer or a changelog; the runtime consumes, runs chains of processors,
keeps their state, writes their output and commits, in the order docs/runtime.md states.
"""
