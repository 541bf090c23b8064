"""Batch records between stages (pipeline.wire.batch) with a real worker and broker: a batch's items are
processed one by one, a bad item is dead-lettered alone (the rest go on), plain records still work, and
what the stage writes to a stream topic is batched per partition."""

from confluent_kafka import Consumer, Producer, TopicPartition

from pipeline import wire
from pipeline.devenv.components import Component
from pipeline.runtime.partitioning import partition_of
from pipeline.runtime.producer import durable_config
from pipeline.settings import WorkerSettings
from pipeline.wire.batch import BATCH_HEADERS, ITEM_INDEX_HEADER, is_batch, pack, unpack
from tests.integration.helpers import SPLIT_TOPOLOGY, settings_with_topology, wait_for_records
from tests.integration.stages.test_dedup_stage import event


def raw_records(settings, topic: str) -> list:
    """Every Kafka record of a topic as written (batches not unpacked)."""
    consumer = Consumer({**settings.kafka.client_config(), "group.id": "batch-test-reader",
                         "enable.auto.commit": False})
    name = settings.topic(topic)
    partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, -2) for p in partitions])
    highs = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions}
    out = []
    while sum(highs.values()) > len(out):
        message = consumer.poll(10)
        assert message is not None, "broker did not answer"
        if not message.error():
            out.append(message)
    consumer.close()
    return out


def test_batch_items_are_processed_apart_and_a_bad_one_dead_lettered_alone(kafka_bootstrap, tmp_path):
    base = settings_with_topology(kafka_bootstrap, "batchrec", SPLIT_TOPOLOGY)
    settings = base.model_copy(update={"worker": WorkerSettings(data_dir=tmp_path / "state")})
    # Items of one batch share a partition: pick alerts whose fingerprints land in the same one.
    candidates = [event(f"Batched{i}", ends_in=600) for i in range(60)]
    partition = partition_of(candidates[0].alert.fingerprint.encode(), 6)
    same = [e for e in candidates if partition_of(e.alert.fingerprint.encode(), 6) == partition][:3]
    items = [(same[0].alert.fingerprint.encode(), wire.encode(same[0])),
             (b"garbage-key", b"{not json"),
             (same[1].alert.fingerprint.encode(), wire.encode(same[1])),
             (same[2].alert.fingerprint.encode(), wire.encode(same[2]))]
    plain = event("Plain", ends_in=600)

    producer = Producer(durable_config(settings.kafka, 10))
    producer.produce(settings.topic("alerts.normalized"), value=pack(items), partition=partition, headers=BATCH_HEADERS)
    producer.produce(settings.topic("alerts.normalized"), key=plain.alert.fingerprint.encode(), value=wire.encode(plain))
    assert producer.flush(15) == 0

    with Component("dedup", ["worker", "dedup"], settings, tmp_path / "logs") as worker:
        deduped = wait_for_records(settings, "alerts.deduped", lambda rs: len(rs) >= 4, alive=worker.alive,
                                   describe=worker.log_tail, timeout=90)
        dead = wait_for_records(settings, "alerts.dlq", lambda rs: len(rs) >= 1, alive=worker.alive,
                                describe=worker.log_tail, timeout=30)

    assert sorted(r.value.alert.labels["alertname"] for r in deduped) == sorted(
        [same[0].alert.labels["alertname"], same[1].alert.labels["alertname"], same[2].alert.labels["alertname"],
         "Plain"])
    assert len(dead) == 1
    letter = dead[0]
    assert letter.key == "garbage-key" and letter.value == b"{not json"
    assert letter.headers[ITEM_INDEX_HEADER] == "1"
    assert letter.headers["pipeline.errors.stage"] == "dedup"
    assert "pipeline-batch" not in letter.headers  # the dead letter is the item alone, replayable as is
    assert letter.headers["__connect.errors.partition"] == str(partition)

    # What dedup wrote to alerts.deduped is batched: the three items of the batch left together.
    written = raw_records(settings, "alerts.deduped")
    batches = [m for m in written if is_batch(m.headers())]
    assert batches, [m.headers() for m in written]
    assert max(len(unpack(m.value())) for m in batches) == 3
    # alerts.state is compacted by key: one plain record per alert, never a batch.
    assert not any(is_batch(m.headers()) for m in raw_records(settings, "alerts.state"))
