"""Run properties over implementations with hypothesis, producing one Record per (impl, property)."""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from hypothesis import HealthCheck, Phase, Verbosity, example, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from harness.checking.answers import sharing
from harness.checking.call import (LAST, HarnessError, OutOfMemory, PropertyFailed, Undefined,
                                   Unsupported, as_checked)
from harness.checking.captured import NOTES
from harness.checking.inherited import crashes_too, inherited
from harness.checking.inherited import message as inherited_message
from harness.checking.properties import Property, properties_for
from harness.checking.regions import large
from harness.checking.strategies import cases, covering_cases, plain_cases, strata
from harness.ops.cases import DTYPES, Case, describe
from harness.ops.catalog import OPS
from harness.ops.draws import first_reaches, large_tiers
from harness.plugins.registry import Implementation
from harness.records.record import Record, check_key
from harness.records.statuses import MARKS

# No explain phase: the record carries the shrunk case and its reproduction, and explaining it
# re-runs the kernel and the float64 oracle hundreds of times (most of a failure's time).
_BASE = dict(deadline=None, report_multiple_bugs=False,
             phases=[phase for phase in Phase if phase.name != "explain"],
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                    HealthCheck.large_base_example])
# Namespaced, so that convharness never takes a profile name of someone else's test suite.
_EXAMPLES = {"quick": 20, "ci": 40, "thorough": 400}
for _name, _count in _EXAMPLES.items():  # ci: derandomized, the same cases every run
    settings.register_profile(f"convharness-{_name}", max_examples=_count,
                              derandomize=_name == "ci", **_BASE)
PROFILES = tuple(_EXAMPLES)


@dataclass(frozen=True)
class CheckOptions:
    """What a check covers: devices and dtypes to draw, the hypothesis profile, properties."""

    devices: tuple = ("cpu",)
    dtypes: tuple = tuple(DTYPES)
    profile: str = "quick"
    properties: tuple = ()
    quiet: bool = True
    case: Case | None = None  # run only this case (a reproduction)
    deterministic: bool = False  # bits that differ between two calls fail (not only a remark)
    covering: bool = True  # the covering array's rows in the properties of COVERED
    seed: int | None = None  # hypothesis seed: the same cases every run (None: new ones)
    strict: bool = False  # a failure PyTorch's own op shares (inherited) counts as a failure
    too_slow: str = ""  # why the large tiers are skipped (a call on one timed out); "": run them


def check_property(impl: Implementation, prop: Property, options: CheckOptions,
                   on_case: Callable[[Case], object] = lambda case: None) -> Record:
    """Draw cases, run the property on each, and shrink the first failure to a minimal case.
    A failure the implementation declares (xfail) or PyTorch's own op shares (inherited) masks
    nothing: the search goes on past it, with such failures excused, for another bug. Where
    the large tiers are skipped as too slow, the record says so."""
    record = _check_property(impl, prop, options, on_case)
    if not options.too_slow or not prop.drawn or not set(strata(impl.op, prop.mix)) & set(
            large_tiers(OPS[impl.op].dims)):
        return record
    return replace(record, counts={**record.counts, "too_slow": 1},
                   message="\n".join(m for m in (options.too_slow, record.message) if m))


def _check_property(impl: Implementation, prop: Property, options: CheckOptions,
                    on_case: Callable[[Case], object]) -> Record:
    sharing((impl.op, prop.name))  # the next implementation of the op draws the same cases
    dtypes = tuple(d for d in options.dtypes if d in impl.dtypes)
    devices = tuple(d for d in options.devices if d in impl.devices)
    if not dtypes or not devices:
        return _record(impl, prop, "unsupported", Counter(unsupported=1),
                       message=f"{impl.name} declares dtypes={impl.dtypes}, devices={impl.devices}")
    tally: Counter = Counter()
    failing: dict = {}
    excused: list[Record] = []  # known or inherited failures found so far
    NOTES.drain()  # what was said before this property is not its implementation's

    def attempt(case: Case) -> None:
        on_case(case)
        calls = LAST["calls"]
        try:
            label = prop.fn(impl, case)
        except Unsupported as exc:
            tally["unsupported"] += 1
            tally["declined"] += exc.declined
            failing.setdefault("why_unsupported", str(exc))
            return
        except Undefined:
            tally["undefined"] += 1
            return
        except PropertyFailed as exc:
            if excused and _excusable(impl, prop, case, exc, options):
                tally["excused"] += 1
                return
            failing.update(case=case, exc=exc)
            raise
        except Exception as exc:  # noqa: BLE001
            failing.update(case=case, exc=_blame(exc, case, LAST["calls"] > calls))
            raise failing["exc"] from None
        tally["pass"] += 1
        if isinstance(label, str):  # a pass with a remark: "nondeterministic"
            tally[label] += 1
            if label in STRICT and options.deterministic:
                failing.update(case=case, exc=PropertyFailed(STRICT[label] + case.call_text()))
                raise failing["exc"]

    done: list = []  # tiers searched to the end
    while True:
        try:
            with as_checked():
                _drive(attempt, impl, prop, options, dtypes, devices, done)
        except Exception as exc:  # the property failed; `failing` holds the shrunk case
            record = _failure(impl, prop, tally, failing, exc, options)
            if record.status not in EXCUSED or excused or options.case is not None:
                return _besides(record, excused)
            excused.append(record)  # search again, this failure excused
            failing.clear()
            continue
        break
    if excused:
        return _searched_on(excused[0], tally)
    return _record(impl, prop, _passed(tally), tally, message=_remark(tally, failing))


EXCUSED = ("xfail", "inherited")  # failures not the kernel's: the search goes on past them


def _excusable(impl, prop, case: Case, exc: PropertyFailed, options) -> bool:
    """A failure the implementation declares, or (unless --strict) PyTorch's own op shares."""
    if impl.known_failure(prop.name, case) is not None:
        return True
    return not options.strict and inherited(prop, case, exc)


def _besides(record: Record, excused: list) -> Record:
    """A failure found after excused ones, naming them."""
    if not excused:
        return record
    also = "; ".join(f"{MARKS[r.status]}: {r.message.splitlines()[0]}" for r in excused)
    return replace(record, message=f"{record.message}\n(besides {also})")


def _searched_on(first: Record, tally: Counter) -> Record:
    """The first excused failure, after a search that found no other."""
    counts = {**first.counts, **tally}
    return replace(first, counts=counts, message=f"{first.message}\n(the search went on past "
                   f"it: {tally['pass']} case(s) passed, {tally['excused']} more excused, "
                   f"no other failure)")


# Remarks a pass may carry, and the failure each becomes under --deterministic.
STRICT = {"nondeterministic": "two calls with the same inputs differ in bits (within tolerance, "
                              "but --deterministic asks for the same bits) ["}


def _passed(tally: Counter) -> str:
    if tally["pass"]:
        return "nondeterministic" if tally["nondeterministic"] else "pass"
    return "unsupported" if tally["unsupported"] else "undefined"


def _remark(tally: Counter, failing: dict) -> str:
    if tally["nondeterministic"]:
        return (f"{tally['nondeterministic']} of {tally['pass']} case(s) gave other bits when "
                f"called twice, each within tolerance")
    return failing.get("why_unsupported", "") if not tally["pass"] else ""


def _blame(exc: Exception, case: Case, called: bool) -> Exception:
    """An exception outside the verdicts: the harness's own fault where it came before any call
    of the implementation (or from the oracle), else the implementation's (reading its output,
    differentiating it), naming what it returned."""
    if isinstance(exc, HarnessError) or not called:
        return exc
    return PropertyFailed(f"the harness could not use what the implementation returned, "
                          f"{LAST['returned']}: {type(exc).__name__}: {str(exc)[:500]} "
                          f"[{case.call_text()}]")


def _drive(attempt: Callable, impl, prop, options, dtypes, devices, done=None) -> None:
    """Run `attempt` over the property's cases; tiers in `done` are skipped, and each tier
    searched to the end is appended to it."""
    done = [] if done is None else done
    if options.case is not None:
        return attempt(options.case)
    if not prop.drawn:  # fixed inputs, once per dtype and device
        for device in devices:
            for dtype in dtypes:
                attempt(Case(impl.op, (1, 1, 1, 1), dtype=dtype, device=device))
        return None
    profile = settings.get_profile(f"convharness-{options.profile}")
    tiers = strata(impl.op, prop.mix)
    total = max(1, round(profile.max_examples * prop.examples))
    searched = max(1, sum(not first_reaches(t) for t in tiers))
    spread = max(MIN_PER_TIER, math.ceil(total / searched))
    skipped = large_tiers(OPS[impl.op].dims) if options.too_slow else ()
    for tier in (t for t in tiers if t not in done and t not in skipped):  # each on its own
        strategy = cases(impl.op, dtypes=dtypes, devices=devices, layouts=prop.layouts,
                         dists=prop.dists_for(impl.op), mix=tier)
        examples = total if tier == "tiny" or len(tiers) == 1 else \
            MIN_PER_TIER if first_reaches(tier) else spread
        verbosity = Verbosity.quiet if options.quiet else Verbosity.normal
        test = given(strategy)(attempt)
        if tier in ("tiny", "mixed"):  # the calls users write most, first, in every run
            for case in plain_cases(impl.op, dtype=dtypes[0], device=devices[0],
                                    layout=prop.layouts[0], dist=prop.dists_for(impl.op)[0]):
                test = example(case)(test)
        if options.seed is not None:
            test = seed(options.seed)(test)
        settings(profile, verbosity=verbosity, database=None, max_examples=examples)(test)()
        done.append(tier)
    if prop.name in COVERED and options.covering and "covering" not in done:
        _covering(attempt, impl, prop, dtypes, devices[0], profile, options.too_slow)
        done.append("covering")
    return None


HEAVY_ELEMENTS = 2**15  # a row's input this large is left out where the large tiers are


def _covering(attempt: Callable, impl, prop, dtypes, device: str, profile, too_slow) -> None:
    """Every row of the op's covering array, once the draws found nothing (a failure they find
    is shrunk to its boundary; a row is small already and is reported as it is). Where a call
    on a large input timed out (`too_slow`), the rows of tens of thousands of elements are
    left out with the large tiers."""
    rows = covering_cases(impl.op, dtypes=dtypes, device=device, dist=prop.dists_for(impl.op)[0])
    if too_slow:
        rows = [c for c in rows if math.prod(c.input_shape) < HEAVY_ELEMENTS]
        if not rows:
            return
    test = given(st.just(rows[0]))(attempt)
    for case in rows:
        test = example(case)(test)
    settings(profile, verbosity=Verbosity.quiet, database=None, max_examples=1,
             phases=[Phase.explicit])(test)()


# The properties that judge numbers run the covering array's rows after their draws (`sizes`
# judges as `values` does: the same rows there would be the same calls again).
COVERED = ("values", "special_values", "gradients")
MIN_PER_TIER = 2  # examples of each tier, at the least (the property's examples are spread
# over the tiers whose first example does not already reach their region)


def _failure(impl, prop, tally, failing: dict, exc: BaseException, options) -> Record:
    """A failed property, or a harness error where the fault is not the implementation's; an
    expected failure where the implementation declares this one; inherited where PyTorch's own
    op fails the same way on the minimal case (a failure under --strict)."""
    cause, case = failing.get("exc"), failing.get("case")
    if isinstance(exc, Flaky) and isinstance(cause, PropertyFailed):
        exc = PropertyFailed(f"{cause} (it did not fail again when the case was rerun: "
                             f"nondeterministic)", cause.figures)
    elif not isinstance(exc, PropertyFailed) or not isinstance(cause, PropertyFailed):
        text = f"harness error: {type(exc).__name__}: {str(exc).strip()[:1500]}"
        return _record(impl, prop, "harness_error", tally, message=text, case=case)
    tally["fail"] += 1
    status, message = "oom" if isinstance(exc, OutOfMemory) else "fail", str(exc).strip()[:2000]
    known = impl.known_failure(prop.name, case) if case is not None else None
    if known is not None and status == "fail":
        status, message = "xfail", f"expected failure: {known.reason}\n{message}"
    elif status == "fail" and case is not None and inherited(prop, case, cause):
        status = "fail" if options.strict else "inherited"
        message = inherited_message(impl.op, message, strict=options.strict)
    return _record(impl, prop, status, tally, message=message, case=case,
                   figures=getattr(exc, "figures", {}))


def _record(impl, prop, status, tally, *, message="", case=None, figures=None) -> Record:
    return Record(kind="check", impl=impl.name, op=impl.op, prop=prop.name, status=status,
                  message=message, case=None if case is None else case.to_dict(),
                  device=case.device if case else "", dtype=case.dtype if case else "",
                  counts=dict(tally), figures=figures or {}, notes=tuple(NOTES.drain()),
                  repro=case.repro(impl.source or impl.name, prop.name) if case else "")


def plan_check(v: dict, select=None) -> tuple[list[Implementation], CheckOptions]:
    """The implementations and CheckOptions of checked option values (options.values);
    `select`: how implementations are found (registry.select, here)."""
    from harness.plugins.pool import expanded
    from harness.plugins.registry import select as here
    from harness.records.errors import UsageError
    select = select or here
    case, op = v.get("case"), v["op"]
    if case and op and op != case.op:
        raise UsageError(f"--op={op!r} conflicts with --case, whose op is {case.op!r}")
    op = case.op if case else op
    specs, pooled = expanded(v["impl"], op)
    impls = select(specs, op=op, dtypes=v["dtypes"], forward_only=v["forward_only"],
                   configs=v.get("config"), pooled=pooled)
    if not impls:
        raise UsageError(f"no implementation of op={op!r} among --impl={v['impl']}")
    return impls, check_options(v)


def run_seed(options: CheckOptions, seed: int | None = None) -> CheckOptions:
    """`options` with one seed for the whole run where they name none: `seed`, else one drawn
    now. Each run still draws new cases, but every implementation of an op draws the same ones:
    they are judged on the same cases (a fair matrix) against the oracle's answers made once
    (checking.answers), and `--seed` with this number draws them again. Unchanged for a
    reproduction and for a derandomized profile (ci), whose cases are fixed already."""
    if options.seed is not None or options.case is not None or \
            settings.get_profile(f"convharness-{options.profile}").derandomize:
        return options
    return replace(options, seed=random.SystemRandom().randrange(10**6) if seed is None else seed)


def check_options(v: dict) -> CheckOptions:
    """CheckOptions of checked option values; a --case fixes its own device and dtype."""
    case = v.get("case")
    return CheckOptions(devices=(case.device,) if case else v["device"],
                        dtypes=(case.dtype,) if case else v["dtypes"] or tuple(DTYPES),
                        profile=v["profile"], properties=v.get("properties", ()), case=case,
                        deterministic=bool(v.get("deterministic")), seed=v.get("seed"),
                        covering=not v.get("no_covering"),
                        strict=bool(v.get("strict")))


@dataclass(frozen=True)
class CheckTask:
    """One property of one implementation, runnable in a worker process."""

    impl: Implementation
    prop: str
    options: CheckOptions

    @property
    def key(self) -> str:
        return check_key(self.impl.name, self.impl.op, self.prop)

    @property
    def shares(self) -> tuple:
        """Tasks that share this key draw the same cases (same op, property and seed), so
        the oracle's answers to them are made once where the tasks run one after another."""
        return (self.impl.op, self.prop)

    def too_slow(self, record: Record) -> str:
        """Why this implementation's large tiers are to be skipped, where `record` is a timeout
        on a large case (slow is not wrong); "" for a hang on an ordinary case."""
        if record.status != "timeout" or not record.case or self.options.too_slow:
            return ""
        case = Case.from_dict(record.case)
        if not large(case):
            return ""
        return (f"too slow, not wrong: a call on a large case ({describe(case)}, "
                f"{math.prod(case.input_shape):,} input elements) outran the time limit "
                f"({record.message.split('; ')[0]}); the large tiers (past the launch limits, "
                f"long planes) are skipped from then on; raise --timeout to check them")

    def skipping_large(self, why: str) -> "CheckTask":
        """This task with the large tiers skipped, for `why`."""
        return replace(self, options=replace(self.options, too_slow=why))

    def execute(self, on_case) -> Iterator[Record]:
        from harness.plugins.deferred import live
        prop = next(p for p in properties_for(self.impl.op) if p.name == self.prop)
        yield check_property(live(self.impl), prop, self.options,
                             on_case=lambda case: on_case(case.to_dict()))

    def fault(self, status: str, message: str, case: dict | None) -> Record:
        """The record of a worker that crashed, hung or ran out of memory on `case`; a crash
        that PyTorch's own op causes on the same case too is inherited (unless --strict)."""
        found = None if case is None else Case.from_dict(case)
        if status == "crashed" and found is not None and not self.options.strict \
                and crashes_too(found):
            status = "inherited"
            message = inherited_message(self.impl.op, message, strict=False,
                                        shares="crashes the process")
        return _record(self.impl, next(p for p in properties_for(self.impl.op)
                                       if p.name == self.prop), status, Counter(), message=message,
                       case=found)


def unchecked(impl: str, op: str, records: list[Record]) -> Record | None:
    """The verdict on an implementation that ran on none of the drawn cases: every property
    unsupported or undefined, and at least one case declined by NotImplementedError (not by a
    declared device or dtype). Nothing was checked, so it does not conform."""
    if not records or any(r.counts.get("pass") or r.status not in ("unsupported", "undefined")
                          for r in records):
        return None
    declined = sum(r.counts.get("declined", 0) for r in records)
    if not declined:
        return None
    why = next((r.message for r in records if r.counts.get("declined")), "")
    return Record(kind="check", impl=impl, op=op, prop="checked", status="unchecked",
                  message=f"nothing was checked: the implementation declined all {declined} "
                          f"case(s) it was given over {len(records)} properties ({why}); no "
                          f"declared device or dtype restriction explains it",
                  counts={"declined": declined})
