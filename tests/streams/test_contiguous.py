"""The offset gate before faust's fetch loop, on the sequence a restarted worker saw in the storm
(issue 20): records fetched before faust's seek, a record of that fetch arriving after it, then
the sought position's records. faust alone took the jump from 798 to 806 for a gap, committed
past 799..805 and dropped them when they came again; behind the gate they pass in order."""

from __future__ import annotations

from faust.types import TP

from streams.contiguous import OffsetGate, Verdict

P1 = TP("fj.raw.power", 1)


def verdicts(gate: OffsetGate, offsets: list[int]) -> list[Verdict]:
    return [gate.admit(P1, offset) for offset in offsets]


def test_records_before_the_seek_and_a_stale_one_after_it_are_dropped_then_all_pass_in_order():
    gate = OffsetGate()
    assert verdicts(gate, [798, 799]) == [Verdict.PASS] * 2  # before the seek, as faust would
    gate.sought(P1, 798)  # faust seeks to the committed offset
    assert verdicts(gate, [806, 807]) == [Verdict.RESEEK, Verdict.RESEEK]  # the old fetch
    assert verdicts(gate, list(range(798, 810))) == [Verdict.PASS] * 12  # the seek's fetch
    assert verdicts(gate, [805, 809]) == [Verdict.DROP, Verdict.DROP]  # again: already on
    assert gate.expected[P1] == 810


def test_a_real_gap_is_taken_once_it_comes_back_after_the_seek():
    gate = OffsetGate()
    gate.sought(P1, 10)
    assert gate.admit(P1, 15) is Verdict.RESEEK  # maybe stale: fetch again from 10
    assert gate.admit(P1, 16) is Verdict.RESEEK  # the same old fetch
    assert gate.admit(P1, 15) is Verdict.RESEEK  # from the seek, but not the jump seen last
    assert gate.admit(P1, 15) is Verdict.PASS  # the same jump again: 10..14 are not in the log
    assert verdicts(gate, [16, 17]) == [Verdict.PASS, Verdict.PASS]


def test_a_partition_without_a_committed_offset_starts_where_the_log_does():
    gate = OffsetGate()
    gate.sought(P1, None)
    assert verdicts(gate, [0, 1, 2]) == [Verdict.PASS] * 3
    gate.sought(P1, -1)  # aiokafka's "no committed offset"
    assert gate.admit(P1, 40) is Verdict.PASS
    assert gate.expected[P1] == 41


def test_a_revoked_partition_forgets_what_it_expected():
    gate = OffsetGate()
    gate.sought(P1, 5)
    assert gate.admit(P1, 5) is Verdict.PASS
    gate.revoked({P1})
    assert P1 not in gate.expected
    gate.sought(P1, 3)
    assert verdicts(gate, [4, 3]) == [Verdict.RESEEK, Verdict.PASS]


def test_faust_reads_on_from_the_gate_not_from_a_record_it_took_while_the_seek_ran():
    """The restarted worker of a later kill loop: 274..287 fetched before the seek to 274, and
    287 stored as read by faust's loop only after the seek. faust's own rule (a record below the
    read offset is dropped as read) then dropped 274..286. The read offset the consumer sets from
    the gate before each record lets all of them through."""
    gate = OffsetGate()
    assert verdicts(gate, list(range(274, 288))) == [Verdict.PASS] * 14  # before the seek
    gate.sought(P1, 274)
    faust_read: int | None = 287  # set late, by the record taken while the seek ran
    taken = []
    for offset in range(274, 291):  # the seek's fetch
        read = gate.read_offset(P1)
        if gate.admit(P1, offset) is Verdict.PASS:
            faust_read = read  # ContiguousConsumer.getmany
            if faust_read is None or offset >= faust_read:  # faust's _drain_messages
                taken.append(offset)
                faust_read = offset
    assert taken == list(range(274, 291))


def test_the_read_offset_before_a_jump_the_gate_accepts_keeps_it_a_gap_for_faust():
    gate = OffsetGate()
    gate.sought(P1, None)
    assert gate.read_offset(P1) is None  # sought to no offset: faust takes the first as it is
    gate.sought(P1, 10)
    assert gate.admit(P1, 15) is Verdict.RESEEK
    assert gate.read_offset(P1) == 9
    assert gate.admit(P1, 15) is Verdict.PASS  # faust sees 9 -> 15 and records 10..14 as a gap


def test_a_record_handed_on_but_not_taken_comes_next_again():
    """faust's stream skipped 795 (an older generation) and acked it: the gate had handed it on
    and dropped it when the partition's fetch brought it again. Rewound, it passes."""
    gate = OffsetGate()
    gate.sought(P1, 795)
    assert verdicts(gate, [795, 796, 797]) == [Verdict.PASS] * 3
    gate.rewind(P1, 795)
    assert verdicts(gate, [795, 796, 797, 798]) == [Verdict.PASS] * 4
    gate.rewind(P1, 900)  # not handed on yet: nothing to rewind
    assert gate.expected[P1] == 799
