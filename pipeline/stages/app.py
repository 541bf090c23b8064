"""The Faust application every stage worker runs, configured from the settings and the topology."""

from __future__ import annotations

import logging

import faust

from pipeline.settings import Settings
from pipeline.topology import Stage, Topology, load_topology


class StageApp:
    """A Faust app for one stage, with its declared topics resolved to cluster names."""

    def __init__(self, stage_name: str, settings: Settings, topology: Topology | None = None):
        self.settings = settings
        self.topology = topology or load_topology(settings.topics.topology_file)
        if stage_name not in self.topology.stages:
            raise ValueError(f"{stage_name!r} is not a stage of {self.topology.source}")
        self.stage: Stage = self.topology.stages[stage_name]
        worker = settings.worker
        (worker.data_dir / stage_name).mkdir(parents=True, exist_ok=True)  # Faust creates only the leaf
        self.app = faust.App(
            # The app id is the consumer group: one group per stage, prefixed like the topics.
            settings.topics.prefix + self.stage.consumer_group,
            broker=[f"kafka://{server.strip()}" for server in settings.kafka.bootstrap_servers.split(",")],
            broker_client_id=f"{settings.kafka.client_id}-{stage_name}",
            key_serializer="raw",
            value_serializer="raw",
            store=worker.store,
            datadir=str(worker.data_dir / stage_name),
            # Topics are created by `pipeline topology apply` with their declared configs;
            # a worker must not create them with defaults.
            topic_allow_declare=False,
            topic_disable_leader=True,
            producer_acks=-1,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            stream_buffer_maxsize=worker.stream_buffer_maxsize,
            web_enabled=worker.web_port is not None,
            web_port=worker.web_port or 6066,
            web_host="127.0.0.1",
        )

    def topic(self, name: str) -> faust.TopicT:
        """A declared topic as raw bytes in and out (the stages do their own decoding)."""
        if name not in self.topology.topics:
            raise ValueError(f"topic {name!r} is not declared in {self.topology.source}")
        return self.app.topic(
            self.settings.topic(name), key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw", allow_empty=True,
        )

    def run(self) -> None:
        """Run the worker until SIGTERM/SIGINT (blocks)."""
        from faust.worker import Worker

        level = self.settings.log_level.lower()
        logging.getLogger("librdkafka").setLevel(logging.WARNING)
        Worker(self.app, loglevel=level, quiet=True).execute_from_commandline()
