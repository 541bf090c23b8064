from datetime import datetime, timedelta, timezone

from pipeline.due_index import DueIndex

T = datetime(2024, 1, 1, tzinfo=timezone.utc)


def at(s: float) -> datetime:
    return T + timedelta(seconds=s)


def test_keys_come_due_in_time_order_and_rescheduling_replaces():
    index = DueIndex()
    index.set(b"a", at(5))
    index.set(b"b", at(1))
    index.set(b"c", at(3))
    index.set(b"a", at(2))          # rescheduled earlier
    index.set(b"c", None)           # forgotten
    assert index.next_due() == at(1)
    assert index.pop_due(at(1.5)) == [b"b"]
    assert index.pop_due(at(10)) == [b"a"]
    assert len(index) == 0 and index.next_due() is None


def test_limit_leaves_the_rest_for_the_next_tick():
    index = DueIndex()
    for i in range(5):
        index.set(i, at(i))
    assert index.pop_due(at(10), limit=2) == [0, 1]
    assert index.pop_due(at(10)) == [2, 3, 4]
