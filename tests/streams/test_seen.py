"""Sequence ranges: membership, merging from either side, and forgetting old ranges."""

from streams.seen import add, forget, seen


def test_ranges_merge_and_answer_membership():
    ranges: list = []
    for seq, at in ((5, 50.0), (7, 70.0), (6, 60.0), (3, 30.0), (4, 40.0), (10, 100.0)):
        assert not seen(ranges, seq)
        add(ranges, seq, at)
        assert seen(ranges, seq)
    assert ranges == [[3, 7, 70.0], [10, 10, 100.0]]
    assert [s for s in range(12) if seen(ranges, s)] == [3, 4, 5, 6, 7, 10]
    assert forget(ranges, 80.0) == [[10, 10, 100.0]]
