"""Plans are plain data: tested without a network."""

import pytest

from stcnbuf.engine.plan import Action, WriteMode, offline_plan, stream_plan, write_mode

P, T, N = WriteMode.PERMANENT, WriteMode.TEMPORARY, WriteMode.NONE


def test_stream_plan_is_stcns_schedule_from_frame_zero():
    plan = stream_plan(12, [0], mem_every=5, ring=False)
    assert [v.frame for v in plan.visits] == list(range(12))
    assert plan[0].action is Action.START and plan[0].write is P and plan[0].new_run
    assert [v.frame for v in plan.visits if v.write is P] == [0, 5, 10]
    assert plan[-1].write is N  # nothing reads memory after the last visit
    assert all(v.output for v in plan.visits) and plan.uncovered() == [] and plan.burn_in_visits == 0


def test_stream_plan_goes_back_from_a_middle_annotation_by_default():
    plan = stream_plan(8, [3, 6], mem_every=2, ring=True)
    assert [v.frame for v in plan.visits] == [3, 4, 5, 6, 7, 2, 1, 0]
    assert [v.action for v in plan.visits][:5] == [Action.START, Action.SEGMENT, Action.SEGMENT,
                                                   Action.ADD_OBJECTS, Action.SEGMENT]
    # forward counts from 3, then from the later annotation 6; backward counts from 3 again
    assert [v.write for v in plan.visits] == [P, T, P, P, T, T, P, N]
    assert [v.frame for v in plan.visits if v.new_run] == [3, 4, 2]
    forward_only = stream_plan(8, [3], mem_every=2, backward=False)
    assert [v.frame for v in forward_only.visits] == [3, 4, 5, 6, 7] and forward_only.uncovered() == [0, 1, 2]


def test_offline_plan_burns_in_then_runs_the_final_pass():
    plan = offline_plan(11, 5, mem_every=2, ring=True, order="none", burn_in_passes=2)
    burn_in = [v for v in plan.visits if v.action is Action.BURN_IN]
    # every mem_every-th frame of each pass over the other frames, into permanent memory, without output
    assert [v.frame for v in burn_in] == [1, 3, 6, 8, 10] * 2
    assert all(v.write is P and not v.output for v in burn_in)
    assert [v.frame for v in burn_in if v.new_run] == [1, 1]
    assert plan.outputs == [5, 6, 7, 8, 9, 10, 4, 3, 2, 1, 0]
    assert plan.burn_in_visits == 10 and len(plan) == 21
    assert plan[0].action is Action.START and plan[0].frame == 5


def test_burn_in_every_frame_segments_each_frame_of_a_pass_with_the_ring():
    plan = offline_plan(11, 5, mem_every=2, ring=True, order="none", burn_in_passes=1, burn_in_every_frame=True)
    burn_in = [v for v in plan.visits if v.action is Action.BURN_IN]
    assert [v.frame for v in burn_in] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert [v.write for v in burn_in] == [T, P] * 5   # the same frames into permanent memory as without it
    assert [v.frame for v in burn_in if v.new_run] == [0] and not any(v.output for v in burn_in)
    assert plan.outputs == offline_plan(11, 5, 2, True, "none", 1).outputs
    no_ring = offline_plan(11, 5, 2, False, "none", 1, burn_in_every_frame=True)
    assert [v.write for v in no_ring.visits if v.action is Action.BURN_IN] == [N, P] * 5


def test_offline_without_burn_in_is_the_stream_plan():
    assert offline_plan(9, 0, 3, True, "strided", 0) == stream_plan(9, [0], 3, True)
    assert offline_plan(9, 4, 3, False, "random", 0, annotated=[4, 7]) == stream_plan(9, [4, 7], 3, False)


def test_write_mode_and_bad_plans():
    assert write_mode(10, 0, 5, False) is P and write_mode(3, 0, 5, False) is N and write_mode(4, 5, 2, True) is T
    with pytest.raises(ValueError, match="outside the video"):
        stream_plan(5, [5])
    with pytest.raises(ValueError, match="at least one annotated"):
        stream_plan(5, [])
    with pytest.raises(ValueError, match="unknown order"):
        offline_plan(5, 0, order="shuffle")
    with pytest.raises(ValueError, match="burn_in_passes"):
        offline_plan(5, 0, burn_in_passes=-1)
    with pytest.raises(ValueError, match="mem_every"):
        stream_plan(5, [0], mem_every=0)
