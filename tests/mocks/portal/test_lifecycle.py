"""The dossier state machine: unit cases and a Hypothesis property over request sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mocks.portal.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    Actor,
    DossierStatus,
    IllegalTransition,
    TransitionNotAllowed,
    next_status,
    reachable_from,
)

S = DossierStatus
# The model of DOMAIN.md, written out independently of the module under test.
MODEL_EDGES = {
    (1, 2), (1, 3), (2, 4), (4, 5), (4, 6), (4, 8), (4, 9), (5, 4), (6, 4), (6, 9), (9, 10),
    (1, 7), (2, 7), (4, 7), (5, 7), (6, 7), (9, 7),
}  # fmt: skip


def test_transition_table_is_exactly_the_model():
    edges = {(int(a), int(b)) for a, targets in TRANSITIONS.items() for b in targets}
    assert edges == MODEL_EDGES


def test_terminal_states_are_3_7_8_10():
    assert {int(s) for s in TERMINAL} == {3, 7, 8, 10}


def test_officer_walks_the_happy_path_to_result_returned():
    status = S.SUBMITTED
    for to in (2, 4, 6, 4, 9, 10):
        status = next_status(status, to, Actor.OFFICER)
    assert status == S.RESULT_RETURNED


def test_illegal_transition_names_from_and_to():
    with pytest.raises(IllegalTransition, match="from 1 to 4: allowed from 1: 2, 3, 7"):
        next_status(S.SUBMITTED, 4, Actor.OFFICER)


def test_terminal_state_message_says_terminal():
    with pytest.raises(IllegalTransition, match="from 10 to 7: status 10 .result_returned. is terminal"):
        next_status(S.RESULT_RETURNED, 7, Actor.OWNER)


def test_unknown_status_number_is_illegal():
    with pytest.raises(IllegalTransition, match="from 4 to 11"):
        next_status(S.PROCESSING, 11, Actor.OFFICER)


def test_only_the_owner_withdraws():
    assert next_status(S.PROCESSING, 7, Actor.OWNER) == S.WITHDRAWN
    with pytest.raises(TransitionNotAllowed, match="only the applicant may withdraw"):
        next_status(S.PROCESSING, 7, Actor.OFFICER)


def test_owner_cannot_process_their_own_dossier():
    with pytest.raises(TransitionNotAllowed, match="only an officer"):
        next_status(S.SUBMITTED, 2, Actor.OWNER)


def test_payment_only_moves_fees_due_to_processing():
    assert next_status(S.FEES_DUE, 4, Actor.PAYMENT) == S.PROCESSING
    with pytest.raises(TransitionNotAllowed):
        next_status(S.FEES_DUE, 9, Actor.PAYMENT)


def test_every_status_is_reachable_from_submitted():
    assert reachable_from(S.SUBMITTED) == frozenset(DossierStatus)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=-1, max_value=12), st.sampled_from(list(Actor))), max_size=40))
def test_no_request_sequence_leaves_the_model(requests):
    """Whatever is asked, by whoever, only model edges are taken and terminals stay put."""
    status = S.SUBMITTED
    reachable = reachable_from(S.SUBMITTED)
    for to, actor in requests:
        before = status
        try:
            status = next_status(status, to, actor)
        except (IllegalTransition, TransitionNotAllowed):
            assert status == before
            continue
        assert (int(before), int(status)) in MODEL_EDGES
        assert before not in TERMINAL
        assert status in reachable
        assert status != S.WITHDRAWN or actor == Actor.OWNER


@given(st.sampled_from(sorted(TERMINAL)), st.integers(min_value=-5, max_value=15), st.sampled_from(list(Actor)))
def test_terminal_states_accept_nothing(terminal, to, actor):
    with pytest.raises(IllegalTransition):
        next_status(terminal, to, actor)
