"""How checks run: shared cases, one round trip per case, and the same verdicts however they ran.

Warm and fresh graders are compared word for word here, so each submission is graded several times.
"""
import shutil

from autograder.grader import Grader
from autograder.intake import read_submission
from autograder.sandbox.launcher import ChildConnection, StudentComponent

from .conftest import SOLUTIONS, full_outputs
from .mutants import EQUIVALENTS, MUTANTS



def _named(name: str):
    return next(m for m in MUTANTS + EQUIVALENTS if m.name == name)


NO_RESIDUAL = _named("no residual")


def _outputs(report) -> list[tuple]:
    return [(c.name, c.passed, c.output) for c in report.checks]


def test_each_case_costs_one_round_trip(grader, monkeypatch):
    """All checks of a case ask the child together, and every later question hits the memo."""
    requests = []
    original = ChildConnection.send

    def counting(self, op, what, pace, **args):
        requests.append(op)
        return original(self, op, what, pace, **args)

    monkeypatch.setattr(grader, "_learning", True)  # the reference: its questions are kept and asked ahead
    submission = read_submission(SOLUTIONS)
    grader._grade_component("ResBlock", submission)  # draws (and remembers) the cases
    cases = sum(len(drawn.cases) for (component, *_), drawn in grader._drawn_cases.items() if component == "ResBlock")
    monkeypatch.setattr(ChildConnection, "send", counting)
    results, _ = grader._grade_component("ResBlock", submission)
    assert all(r.passed for r in results)
    assert requests.count("batch") == cases
    assert requests.count("load") == 1


def test_the_child_answers_the_next_case_while_the_checks_judge_this_one(grader, monkeypatch):
    """Replayed cases are pipelined: case i+1's questions (or the next group's first) go out before
    case i's first verdict."""
    from autograder.checks import runner

    monkeypatch.setattr(grader, "_learning", True)  # the reference: its questions are kept and asked ahead
    submission = read_submission(SOLUTIONS)
    grader._grade_component("ResBlock", submission)  # draws (and remembers) the cases
    groups = [drawn for (component, *_), drawn in grader._drawn_cases.items() if component == "ResBlock"]
    sent, cases_started, ahead = [0], [], []
    send, verdict = ChildConnection.send, runner._verdict

    def sending(self, op, what, pace, **args):
        sent[0] += op == "batch"
        return send(self, op, what, pace, **args)

    def judging(check_, ctx, case):
        if not cases_started or cases_started[-1] is not case:
            cases_started.append(case)
            ahead.append(sent[0] > len(cases_started))
        return verdict(check_, ctx, case)

    monkeypatch.setattr(ChildConnection, "send", sending)
    monkeypatch.setattr(runner, "_verdict", judging)
    assert all(r.passed for r in grader._grade_component("ResBlock", submission)[0])
    assert len(cases_started) == sum(len(g.cases) for g in groups)
    assert len(groups) > 1 and ahead == [True] * (len(ahead) - 1) + [False]  # across groups too: all but the last


def test_remembered_cases_give_the_verdicts_hypothesis_gives(grader, config, make_submission):
    """A grader's second submission replays the cases its first drew, and the reference's runs on
    them come from its cache: verdicts and shrunk cases agree with a fresh grader's."""
    folder = make_submission(NO_RESIDUAL.replacements())
    grader.grade(SOLUTIONS)  # every group's cases are now remembered
    replayed = grader.grade(folder)
    with Grader(config, zygote=grader.zygote, warm_start=False) as fresh:  # draws with Hypothesis, then shrinks
        drawn = fresh.grade(folder)
        redrawn = dict(fresh._drawn_cases)
    remembered = grader._drawn_cases  # other tests may have added groups of their own
    assert redrawn and all(remembered[key].strategy == again.strategy and remembered[key].cases == again.cases
                           for key, again in redrawn.items())
    assert _outputs(replayed) == _outputs(drawn)
    failed = [c for c in drawn.checks if not c.passed]
    assert {c.component for c in failed} == {"ResBlock", "Integration"}  # Integration runs the student's ResBlock
    outputs = full_outputs(drawn)
    assert all("Smallest failing input" in outputs[c.name] for c in failed)


def test_grading_twice_gives_the_same_report(grader, make_submission):
    folder = make_submission(NO_RESIDUAL.replacements())
    assert _outputs(grader.grade(folder)) == _outputs(grader.grade(folder))


def test_checks_shrunk_together_each_fail_on_the_case_they_report(grader, make_submission):
    """Joint shrinking hands a check the smallest case where any failed: it must fail there itself."""
    from autograder.checks import CheckContext, run_checks
    from autograder.checks.runner import _verdict
    from autograder.checks.registry import CheckFailed
    from autograder.plan import load_plan

    norm_swap = _named("norm2 where norm1 belongs")
    submission = read_submission(make_submission(norm_swap.replacements()))
    bound = [(c, s) for c, s in grader.checks if c.component == "ResBlock"]
    student = StudentComponent(grader._zygote(), load_plan("ResBlock", submission, grader.reference), grader.config.limits)
    try:
        ctx = CheckContext(student=student, reference=grader.reference, config=grader.config)
        outcomes = run_checks([c for c, _ in bound], ctx, [grader.config.max_examples(s) for _, s in bound])
        failed = [(c, o.failure) for (c, _), o in zip(bound, outcomes) if o.failure is not None]
        assert len({repr(f.case) for _, f in failed}) < len(failed)  # several checks share a shrunk case
        for check_, failure in failed:
            try:
                _verdict(check_, ctx, failure.case)
            except CheckFailed:
                continue
            raise AssertionError(f"{check_.id} passes on the case it reports: {failure.case.describe()}")
    finally:
        student.stop()


def test_cases_come_from_the_seed_alone(monkeypatch):
    """Hypothesis mixes constants from imported local modules into draws; grading's draws must not see them."""
    from hypothesis.internal.conjecture import providers

    from autograder.checks import REGISTRY
    from autograder.checks.runner import _given, _run_given

    check_ = next(c for c in REGISTRY if c.component == "ResBlock" and c.id == "forward_matches")

    def draw(run) -> list:
        cases = []
        run(lambda case: cases.append(case), check_, 40, shrink=False)
        return cases

    def bare(test, *args, **kwargs):  # the same seed and settings, without seed_only_draws
        _given(test, *args, **kwargs)()

    graded = _run_given
    plain = draw(graded)
    many = providers.Constants(integers={3, 5, 7, 11, 13, 250, 999, 4242, 12345})
    monkeypatch.setattr(providers, "_get_local_constants", lambda: many)
    providers.CONSTANTS_CACHE.cache.clear()
    assert draw(bare) != plain  # the constants do reach unprotected draws
    assert draw(graded) == plain
    providers.CONSTANTS_CACHE.cache.clear()


def test_a_module_that_changes_as_it_runs_is_graded_alike_fresh_and_warm(grader, config, make_submission):
    """Asking a case's questions first (a warm grader) meets the child with the order rounds would (a fresh one)."""
    counting = (SOLUTIONS / "res_block.py").read_text().replace(
        "return h + self.skip(x)",
        "self.calls = getattr(self, 'calls', 0) + 1\n        return h + self.skip(x) + 1e-3 * self.calls")
    folder = make_submission({"res_block": counting})
    grader.grade(SOLUTIONS)  # the warm grader will ask the reference's questions first
    warm = grader.grade(folder)
    with Grader(config, zygote=grader.zygote) as fresh:
        cold = fresh.grade(folder)
    assert any(not c.passed for c in warm.checks if c.component == "ResBlock")
    assert _outputs(warm) == _outputs(cold)


def test_a_warm_grader_computes_the_reference_once(grader, monkeypatch):
    """The second student is graded against the first one's reference runs: no build, no forward."""
    from autograder.checks import common

    grader.grade(SOLUTIONS)
    built, ran = [], []
    monkeypatch.setattr(common.ReferenceModels, "__init__", lambda *a, **k: built.append(a))
    original_run = common.ReferenceModels._run
    monkeypatch.setattr(common.ReferenceModels, "_run", lambda self, *a: ran.append(a) or original_run(self, *a))
    again = grader.grade(SOLUTIONS)
    assert all(c.passed for c in again.checks)
    assert built == [] and ran == []


def test_the_reference_cache_forgets_the_least_recently_used():
    from autograder.checks.common import ReferenceCache

    cache = ReferenceCache(max_entries=2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert list(cache) == ["a", "c"]
    assert cache.get("b") is None


def test_the_allowed_error_is_remembered_per_reference_pair_only():
    """A remembered tolerance must never serve another float32 run of the same float64 truth."""
    import torch

    from autograder.compare import allowed_error
    from autograder.config import Tolerance

    tolerance = Tolerance()
    truth = torch.tensor([1.0, -2.0], dtype=torch.float64)
    close, far = truth.float(), (truth + 1e-3).float()
    assert allowed_error(truth, close, tolerance) == allowed_error(truth, close, tolerance)
    assert allowed_error(truth, far, tolerance) > 100 * allowed_error(truth, close, tolerance)


def test_a_remembered_shrink_ends_where_hypothesis_would(grader, config, make_submission, monkeypatch):
    """A grader walks the last shrinking run's cases before asking Hypothesis: same smallest cases,
    same feedback, as a fresh grader -- without Hypothesis when the submission fails where that one did."""
    from autograder.checks import runner

    folders = {name: make_submission(_named(name).replacements(), name=name.replace(" ", "_"))
               for name in ("no residual", "norm2 where norm1 belongs", "relu after conv1 instead of before")}
    expected = {}
    for name, folder in folders.items():
        with Grader(config, zygote=grader.zygote) as fresh:
            expected[name] = _outputs(fresh.grade(folder))
    shrinking_runs = []
    original = runner._run_given
    monkeypatch.setattr(runner, "_run_given", lambda test, check_, examples, shrink, **profile:
                        shrinking_runs.append(shrink) or original(test, check_, examples, shrink, **profile))
    with Grader(config, zygote=grader.zygote) as warm:
        for name, folder in folders.items():
            assert _outputs(warm.grade(folder)) == expected[name], name
        shrinking_runs.clear()
        again = warm.grade(folders["no residual"])
    assert _outputs(again) == expected["no residual"]
    assert any("Smallest failing input" in output for _, _, output in _outputs(again))
    assert True not in shrinking_runs  # every shrink was replayed


WARM_AND_FRESH = ("sinusoid denominator dim/2 instead of dim/2 - 1", "time added after conv2",
                  "skip taken after downsampling", "concat order [skip, up(x)]", "skips swapped between up1 and up2",
                  "softmax over the queries", "attention before the ResBlock", "frequencies as 10000 ** (-i / (half - 1))")


def test_a_batch_worker_and_a_fresh_grader_give_the_same_feedback(grader, config, make_submission, tmp_path):
    """Everything a warm grader remembers (cases, questions, reference runs, shrinking runs, the
    child handed between components) changes no word of the feedback: one mistake per component.
    Nor does starting from what a warm grader saved beside the reference (``warm_start.py``)."""
    folders = [make_submission(_named(name).replacements(), name=f"s{index:02d}")
               for index, name in enumerate(WARM_AND_FRESH)]
    # a reference of this test's own: its saved results are this test's alone
    config = config.model_copy(update={"reference": str(shutil.copytree(SOLUTIONS, tmp_path / "reference" / "unet"))})
    with Grader(config, zygote=grader.zygote, warm_start=False) as warm:
        in_order = [_outputs(warm.grade(f)) for f in folders]
        reversed_order = [_outputs(warm.grade(f)) for f in reversed(folders)][::-1]
        assert warm.save_results().parent == config.reference_results()
    for folder, first, second in zip(folders, in_order, reversed_order):
        with Grader(config, zygote=grader.zygote, warm_start=False) as fresh:
            expected = _outputs(fresh.grade(folder))
        with Grader(config, zygote=grader.zygote) as saved:
            assert saved.started_warm
            from_saved = _outputs(saved.grade(folder))
        assert first == expected and second == expected and from_saved == expected, folder.name
    assert all(any(not passed for _, passed, _ in outputs) for outputs in in_order[:-1])  # the mistakes do fail
    assert all(passed for _, passed, _ in in_order[-1])  # and the equivalent does not


def test_nothing_a_submission_chose_is_asked_of_a_later_submissions_child(grader, make_submission, monkeypatch):
    """Questions are asked ahead from what the reference's checks asked: a student's own (weights
    keyed by their parameter names, loaded by position) never reach another student's child."""
    marker = "n_" + "c0ffee" * 20
    sender = make_submission({"attention": (SOLUTIONS / "attention.py").read_text().replace("self.norm", f"self.{marker}")},
                             name="sender")
    sent = []
    original = ChildConnection.send

    def recording(self, op, what, pace, **args):
        sent.append(repr(args))
        return original(self, op, what, pace, **args)

    monkeypatch.setattr(ChildConnection, "send", recording)
    grader.grade(sender)
    assert [text for text in sent if marker in text]  # the sender's own questions carry its names
    sent.clear()
    report = grader.grade(make_submission(name="receiver"))
    assert report.score == report.max_score
    assert sent and not [text for text in sent if marker in text]
    # Failing alike, a later submission replays an earlier one's shrinking run (``_replay_shrink``):
    # the cases it walks, never the questions a student asked on them.
    wrong = (SOLUTIONS / "attention.py").read_text().replace("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)")
    assert wrong != (SOLUTIONS / "attention.py").read_text()
    for name in ("wrong_sender", "wrong_sender_again"):  # the first shrinks; the second replays its run
        grader.grade(make_submission({"attention": wrong.replace("self.norm", f"self.{marker}")}, name=name))
    sent.clear()
    report = grader.grade(make_submission({"attention": wrong}, name="wrong_receiver"))
    assert report.component_scores()["SelfAttention"][0] < report.component_scores()["SelfAttention"][1]
    assert sent and not [text for text in sent if marker in text]
