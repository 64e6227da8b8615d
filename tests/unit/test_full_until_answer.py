"""The ingress's memory of the last 'overloaded', behind early refusals (serving/ingress/full_until_answer.py)."""
import time

from capitals_qa.serving.ingress.full_until_answer import FullUntilAnswer
import pytest

pytestmark = pytest.mark.unit

REFUSAL = "overloaded: 3 questions are waiting already, the limit"


def ask(full, refused_for_s=None):
    """One question sent on through the memory; `refused_for_s`: it came back refused with this Retry-After."""
    with full.sent():
        pass
    if refused_for_s is not None:
        full.saw(REFUSAL, refused_for_s)


def test_after_a_refusal_the_next_question_is_refused_until_one_comes_back():
    full = FullUntilAnswer()
    ask(full)
    assert full.refusal() is None
    with full.sent():  # a question still in a replica
        ask(full, refused_for_s=4)
        refusal, left_s = full.refusal()
        assert refusal == REFUSAL and 1 <= left_s <= 4
        assert not full.idle
    # It came back: room again, and the next question goes on.
    assert full.refusal() is None
    assert full.idle


def test_a_refusal_is_forgotten_after_its_retry_after_even_if_nothing_came_back():
    full = FullUntilAnswer()
    with full.sent():
        ask(full, refused_for_s=1)
        assert full.refusal() is not None
        time.sleep(1.05)
        assert full.refusal() is None


def test_questions_that_are_not_refused_leave_no_memory():
    full = FullUntilAnswer()
    with full.sent():
        ask(full)
        ask(full)
        assert full.refusal() is None
