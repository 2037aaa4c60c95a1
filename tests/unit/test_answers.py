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
    monkeypatch.setattr(call, "expected_values", lambda case, tensors: asked.append(
        (answers.KEPT.scope, case.to_json())) or real(case, tensors))  # scope: op, property
    answers.forget()
    impls = [load("reference.conv2d"), load("unfold_einsum.conv2d"),
             load("tests.unit.broken:conv_flipped", op="conv2d")]
    records = run_checks(impls, CheckOptions(seed=3, properties=("values", "sizes")))
    assert {r.impl: r.status for r in records} == {
        "reference.conv2d": "pass", "unfold_einsum.conv2d": "pass",
        "tests.unit.broken:conv_flipped": "fail"}
    judged = sum(r.counts.get("pass", 0) for r in records if r.impl == "reference.conv2d")
    assert len(asked) == len(set(asked)), "a case was answered twice for one property"
    # the second and third implementations were judged on the answers the first one's cases
    # got (the broken one's shrinking asks for a few more)
    assert len(asked) < 1.5 * judged


def test_without_a_seed_the_implementations_of_an_op_still_share_their_cases(monkeypatch):
    asked = []
    real = call.expected_values
    monkeypatch.setattr(call, "expected_values",
                        lambda case, tensors: asked.append(case.to_json()) or real(case, tensors))
    impls = [load("reference.conv1d"), load("unfold_einsum.conv1d")]
    records = run_checks(impls, CheckOptions(properties=("values",)))  # a new seed each run
    assert [r.status for r in records] == ["pass", "pass"]
    judged = records[0].counts["pass"]
    assert judged == records[1].counts["pass"]  # the second was judged on the first's answers
    assert len(asked) == len(set(asked)) <= judged  # (a case may be drawn twice)


def test_the_first_answers_are_kept_not_the_newest(monkeypatch):
    """Each implementation walks the same cases from the first: dropping the oldest answers to
    make room would leave the next one none it needs first."""
    answers.sharing("one")
    monkeypatch.setattr(answers.KEPT, "max_bytes", 3 * 8 * 1000)
    made = []

    def make(name):
        return lambda: made.append(name) or torch.zeros(1000, dtype=torch.float64)
    for name in "abcd":
        answers.answered(name, make(name))
    answers.answered("a", make("a2"))  # kept
    answers.answered("d", make("d2"))  # made again: there was no room for it
    assert made == ["a", "b", "c", "d", "d2"]
    big = answers.answered("huge", lambda: torch.zeros(10**6))
    assert big.numel() == 10**6 and "huge" not in answers.KEPT.answers  # made, too big to keep
    answers.sharing("one")
    assert "a" in answers.KEPT.answers
    answers.sharing("another")  # the answers of another op or property: the old ones dropped
    assert not answers.KEPT.answers and answers.KEPT.bytes == 0
    answers.forget()


def test_the_bench_turns_drop_the_oldest():
    kept = answers.Kept(max_bytes=float("inf"), max_count=2)
    for name in "abc":
        kept.answered(name, lambda: torch.zeros(1))
    assert list(kept.answers) == ["b", "c"]
