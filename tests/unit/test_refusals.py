"""The ingress refuses by itself while the Pipeline replicas are as full as when they last refused."""
import time

import pytest

from capitals_qa.api.backend import Overloaded
from capitals_qa.serving.refusals import FullUntilAnswer


def ask(full, answer):
    """One question through the memory, as RemotePipeline.run does: `answer` is what the replica gives back."""
    full.check()
    with full.sent():
        result = answer
    full.saw(result)
    return result


def test_after_a_refusal_the_next_question_is_refused_until_one_comes_back():
    full = FullUntilAnswer()
    assert ask(full, {"answers": []}) == {"answers": []}
    with full.sent():  # a question still in a replica
        ask(full, Overloaded("overloaded: 3 questions are waiting already, the limit", 4))
        with pytest.raises(Overloaded) as refused:
            full.check()
        assert refused.value.messages == ["overloaded: 3 questions are waiting already, the limit"]
        assert 1 <= refused.value.retry_after_s <= 4
    full.check()  # it came back: room again, and the next question goes to a replica


def test_a_refusal_is_forgotten_after_its_retry_after_even_if_nothing_came_back():
    full = FullUntilAnswer()
    with full.sent():
        ask(full, Overloaded("overloaded", 1))
        with pytest.raises(Overloaded):
            full.check()
        time.sleep(1.05)
        full.check()


def test_answers_and_other_errors_leave_no_memory():
    full = FullUntilAnswer()
    with full.sent():
        ask(full, {"answers": []})
        ask(full, ValueError("not a refusal"))
        full.check()
