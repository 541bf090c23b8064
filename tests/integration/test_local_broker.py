"""The Docker-free local broker: start, measure, stop, restart offline with data kept.

Starts a broker of its own (fresh data dir, free ports) next to the session broker, so it also proves
two local brokers do not collide.
"""

import time

from confluent_kafka.admin import NewTopic

from pipeline.devenv.kafka import LocalKafka
from pipeline.runtime.admin import admin_client, broker_answers
from tests.conftest import isolated_dev_settings


def test_start_ready_stop_and_restart_without_download(tmp_path, capsys):
    broker = LocalKafka(isolated_dev_settings(tmp_path))
    try:
        first = broker.up()
        assert broker_answers(first.bootstrap)
        name = "survives.restart"
        admin = admin_client(first.bootstrap)  # kept: a dropped client cancels its futures
        admin.create_topics([NewTopic(name, 3, 1)])[name].result(15)

        assert broker.down() is True
        assert not broker_answers(first.bootstrap, timeout=1)
        assert not broker.process.is_running()

        second = broker.up()
        assert second.downloaded_jars is False, "a second start must not download anything"
        topics = admin_client(second.bootstrap).list_topics(timeout=10).topics
        assert len(topics[name].partitions) == 3

        again = broker.up()
        assert again.already_running
        with capsys.disabled():
            print(f"\nlocal kafka start to ready: first {first.seconds_to_ready:.2f} s, "
                  f"restart {second.seconds_to_ready:.2f} s "
                  f"(first start downloaded jars: {first.downloaded_jars})")
    finally:
        broker.down()
    stopped_at = time.monotonic()
    assert not broker.process.is_running()
    assert "kafka: stopped" in broker.status()
    assert time.monotonic() - stopped_at < 1
