"""Draw once, judge many: implementations of one op checked in one run are drawn the same cases,
and the oracle answers each case once; a shared answer changes no verdict."""
import torch

from harness.checking import answers, call
from harness.checking.driver import CheckOptions
from harness.execution.runs import run_checks
from harness.plugins.registry import load


def test_each_case_is_answered_once_for_every_implementation_of_its_op(monkeypatch):
    asked = []
    real = call.expected_values
    monkeypatch.setattr(call, "expected_values",
                        lambda case, tensors: asked.append(case.to_json()) or real(case, tensors))
    answers.forget()
    impls = [load("reference.conv2d"), load("unfold_einsum.conv2d"),
             load("tests.unit.broken:conv_flipped", op="conv2d")]
    records = run_checks(impls, CheckOptions(seed=3, properties=("values", "sizes")))
    assert {r.impl: r.status for r in records} == {
        "reference.conv2d": "pass", "unfold_einsum.conv2d": "pass",
        "tests.unit.broken:conv_flipped": "fail"}
    judged = sum(r.counts.get("pass", 0) for r in records if r.impl == "reference.conv2d")
    assert len(asked) == len(set(asked)), "a case was answered twice"
    # the second and third implementations were judged on the answers the first one's cases
    # got (the broken one's shrinking asks for a few more)
    assert len(asked) < 1.5 * judged


def test_answers_are_kept_by_bytes_oldest_dropped_first(monkeypatch):
    answers.forget()
    monkeypatch.setattr(answers.KEPT, "max_bytes", 3 * 8 * 1000)
    made = []

    def make(name):
        return lambda: made.append(name) or torch.zeros(1000, dtype=torch.float64)
    for name in "abcd":
        answers.answered(name, make(name))
    answers.answered("d", make("d2"))  # kept
    answers.answered("a", make("a2"))  # dropped when d came
    assert made == ["a", "b", "c", "d", "a2"]
    big = answers.answered("huge", lambda: torch.zeros(10**6))
    assert big.numel() == 10**6 and "huge" not in answers.KEPT.answers  # made, too big to keep
    answers.forget()
