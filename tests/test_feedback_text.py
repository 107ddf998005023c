"""The words students read: one cause said once per component, hints only where they apply."""
from autograder.checks.hints import explain
from autograder.results import CheckResult, GradingReport

from .conftest import ROOT, full_outputs

TRACEBACK = ('  File "res_block.py", line 41, in __init__\n    self.norm1 = nn.GroupNorm(32, in_channels)\n'
             "ValueError: num_channels (2) must be divisible by num_groups (32)")


def _result(check_id: str, output: str, component: str = "ResBlock", visibility: str = "hidden") -> CheckResult:
    return CheckResult(component, check_id, f"{component}: {check_id}", 0.0, 1.0, False, output, visibility)


def test_a_traceback_repeated_on_other_cases_and_calls_is_said_once_per_component():
    report = GradingReport("s", checks=[
        _result("forward_matches", f"your code raised an error during ResBlock.forward:\n{TRACEBACK}\n"
                                   "Smallest failing input: ResBlock(1)"),
        _result("structure", f"your code raised an error during ResBlock(...):\n{TRACEBACK}\n"
                             "Smallest failing input: ResBlock(2)", visibility="public"),
        _result("output_shape", f"your code raised an error on ResBlock(3):\n{TRACEBACK}"),
        _result("output_shape", f"your code raised an error during DownBlock.forward:\n{TRACEBACK}", "DownBlock"),
    ])
    report.refer_repeated_outputs()
    outputs = [c.output for c in report.checks]
    assert outputs[1].startswith("your code raised an error") and TRACEBACK in outputs[1]  # the visible one keeps it
    assert outputs[0] == 'The same error as "ResBlock: structure" (shown there).\nSmallest failing input: ResBlock(1)'
    assert outputs[2] == 'The same error as "ResBlock: structure" (shown there).'
    assert TRACEBACK in outputs[3]  # another component says it again, once


def test_an_exit_that_cost_several_checks_is_said_once_naming_no_other_check():
    """The grader names the check a fatal error cost ("(in SelfAttention: output shape)"); the same exit
    in five checks is still one cause, said on one card."""
    exited = ("your code exited with status 0 (does your code call sys.exit or os._exit?) during "
              "SelfAttention.forward (in SelfAttention: {})")
    names = ["output shape", "return_weights gives weights of shape (B, H*W, H*W)", "rows sum to 1 (over keys)"]
    report = GradingReport("s", checks=[_result(n, exited.format(n), "SelfAttention", "public") for n in names])
    report.refer_repeated_outputs()
    outputs = [c.output for c in report.checks]
    assert outputs[0] == exited.format("output shape")
    assert outputs[1:] == ['The same error as "SelfAttention: output shape" (shown there).'] * 2


def test_stubs_get_each_traceback_once_per_component_and_integration_is_not_the_students(grader):
    report = grader.grade(ROOT / "assignments" / "unet")
    for component in {c.component for c in report.checks}:
        said = [tuple(line for line in c.output.splitlines() if line.startswith("  File"))
                for c in report.checks if c.component == component and "NotImplementedError" in c.output]
        assert said and len(said) == len(set(said)), f"{component}: a traceback is said more than once"
    integration = [full_outputs(report)[c.name] for c in report.checks if c.component == "Integration"]
    assert all("one of your blocks it uses, is not implemented yet" in o for o in integration)
    assert not any("This part of Integration" in o for o in integration)


def test_hints_quote_the_students_own_numbers_and_fire_only_on_their_error():
    assert "GroupNorm(32, 12) cannot split 12 channels into 32 groups" in explain(
        "ValueError: num_channels (12) must be divisible by num_groups (32)", "ResBlock")
    assert "for C=12 that is 4 groups" in explain(
        "ValueError: num_channels (12) must be divisible by num_groups (32)", "ResBlock")
    assert "4 latent channels" not in explain("ValueError: num_channels (12) must be divisible by num_groups (32)",
                                              "ResBlock")  # the chapter's erratum is GroupNorm(8, C) only
    assert "A 3x3 convolution got a 1x2 input" in explain(
        "RuntimeError: Calculated padded input size per channel: (1 x 2). Kernel size: (3 x 3). Kernel size can't "
        "be greater than actual input size", "DownBlock")
    broadcast = ("    h = h + self.time_mlp(t_emb)\nRuntimeError: The size of tensor a (5) must match the size of "
                 "tensor b (3) at non-singleton dimension 2")
    assert "time_mlp(t_emb)[:, :, None, None]" in explain(broadcast, "ResBlock")
    assert "[:, :, None, None]" not in explain(broadcast.replace("self.time_mlp(t_emb)", "y"), "ResBlock")
    assert "Grading runs on the CPU" in explain("AssertionError: Torch not compiled with CUDA enabled", "TimeEmbedding")
    saved = "    plt.savefig('losses.png')\nPermissionError: [Errno 13] Permission denied: 'losses.png'"
    assert "cannot write files" in explain(saved, "SkipAblation")
    checkpoint = ("    torch.save(model.state_dict(), 'model.pt')\nRuntimeError: [enforce fail at inline_container.cc:747] . "
                  "open file failed with strerror: Permission denied")  # torch's own writer says it so
    assert "cannot write files" in explain(checkpoint, "SkipAblation")
    assert "cannot write files" not in (explain("ValueError: bad value", "SkipAblation") or "")


def test_a_value_against_a_reference_of_zeros_says_so_not_allowed_1e_30():
    """A gradient that must be exactly 0 (a parameter the output does not use): the message says the
    reference is 0 everywhere, never "allowed 1e-30" (the floor that keeps the tolerance positive)."""
    import torch

    from autograder.compare import value_problem
    from autograder.config import Tolerance

    zeros = torch.zeros(2, 3, dtype=torch.float64)
    got = torch.zeros(2, 3)
    got[1, 2] = 0.25
    problem = value_problem(got, zeros, zeros.float(), Tolerance(), "gradient of conv.bias")
    assert "the reference is exactly 0 everywhere" in str(problem) and "1e-30" not in str(problem), problem
    assert "at index (1, 2) expected 0, got 0.25" in str(problem), problem
    small = value_problem(torch.full((2,), 2.0), torch.ones(2, dtype=torch.float64), torch.ones(2), Tolerance(), "x")
    assert "allowed 1e-05" in str(small), small  # a reference of ones: the relative floor, said as a number


def test_no_words_of_our_own_are_hidden_by_the_redactor():
    """Every string the checks and rules hold -- messages, hints, the constants they are built from --
    as far as its literal text goes, passes the redactor untouched: a hint that quoted a solution line
    verbatim (``loss = F.mse_loss(...)``), or a line of a check's code, was replaced by "[line hidden ...]" in
    every student's feedback."""
    import ast

    from autograder.redact import HIDDEN, Redactor
    from autograder.reference import Reference

    # the solution's lines and the checks' own (a hint holding `with torch.no_grad():`, a line of a check, was hidden)
    redactor = Redactor.for_grading(Reference(ROOT / "solutions" / "unet").secret_lines)
    hidden = []
    for path in sorted((ROOT / "autograder" / "checks").glob("*.py")) + sorted((ROOT / "autograder" / "rules").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)  # never shown to anyone
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            if isinstance(node, ast.JoinedStr):
                parts = node.values
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts = [node]
            else:
                continue
            literal = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
            if literal and HIDDEN in redactor.clean(literal):
                hidden.append((path.name, node.lineno, literal[:120]))
    assert hidden == []


def test_a_value_the_grader_cannot_read_is_not_called_an_error_the_code_raised():
    """``skip_ablation`` returning ``(results, models)`` raised nothing: the message names what it returned."""
    from autograder.checks.registry import failure_from_student
    from autograder.sandbox.errors import StudentError

    failure = failure_from_student(StudentError("returned a SimpleUNet, expected tensors, numbers or strings"),
                                   "SkipAblation", during="skip_ablation(...)")
    assert failure.message == "skip_ablation(...) returned a SimpleUNet, expected tensors, numbers or strings"
    assert "raised" not in failure.message and "Return what the docstring says" in failure.hint


def test_sinusoidal_embeddings_arguments_in_the_other_order_are_named_as_such():
    """``sinusoidal_embedding(dim, t)``, the reference's code with its parameters swapped, called as
    the stub declares it: torch's own error (whatever it is in this torch) gets the hint naming the order."""
    import re
    import traceback

    import torch

    source = (ROOT / "solutions" / "unet" / "time_embedding.py").read_text()
    swapped = re.sub(r"def sinusoidal_embedding\(t, dim\)", "def sinusoidal_embedding(dim, t)", source)
    assert swapped != source
    namespace = {"__name__": "student_time_embedding"}
    exec(compile(swapped, "time_embedding.py", "exec"), namespace)
    try:
        namespace["sinusoidal_embedding"](torch.arange(3), 8)
    except Exception:  # noqa: BLE001 - the error a student's code raises is the input here
        error = traceback.format_exc()
    else:
        raise AssertionError("swapped arguments ran")
    assert "takes (t, dim) in that order" in explain(error, "TimeEmbedding"), error
    assert "takes (t, dim)" not in (explain(error.replace("sinusoidal_embedding", "forward"), "ResBlock") or "")


def test_a_package_an_allowed_package_needs_but_the_environment_lacks_is_the_environments_problem(tmp_path):
    """``from torch.utils.tensorboard import SummaryWriter`` needs tensorboard, which intake (reading the
    student's own imports: torch, allowed) cannot see: the import's error names it, and the TA reads it
    as an environment problem -- not for a module of the hand-in itself, nor the standard library's."""
    import importlib

    from autograder.grader import _missing_packages
    from autograder.intake import read_submission

    def error(name: str) -> str:
        try:
            importlib.import_module(name)
        except ImportError as raised:
            return f"{type(raised).__name__}: {raised}"
        raise AssertionError(f"{name} imported")

    from .classroom import package, reference, write

    submission = read_submission(write(tmp_path / "hand-in", package("unet/", reference())))
    texts = [f'"analysis.py", line 3: {error("tensorboard_not_installed_here.summary")}; left out',
             error("unet.helpers_not_handed_in"), error("res_block.nothing"), error("json.no_such_part")]
    said = _missing_packages(submission, texts)
    assert len(said) == 1 and "tensorboard_not_installed_here" in said[0], said


def test_a_changed_given_constant_of_the_experiment_is_named(grader, tmp_path):
    """BASE_CHANNELS = 16 fails the seeded start ("did not start from the weights torch.manual_seed(1)
    gives"), IMAGE_SIZE = 32 the images' checks: the note names the constant that differs, and only that."""
    from autograder.intake import read_submission

    from .classroom import package, reference, write

    files = package("unet/", reference())
    source = files["unet/analysis.py"]
    assert "BASE_CHANNELS = 8\n" in source and "IMAGE_SIZE = 16\n" in source
    files["unet/analysis.py"] = source.replace("BASE_CHANNELS = 8\n", "BASE_CHANNELS = 16\n")
    said = grader._changed_constants(read_submission(write(tmp_path / "changed", files)))
    assert len(said) == 1 and "BASE_CHANNELS = 16 (given: 8)" in said[0] and "IMAGE_SIZE" not in said[0], said
    assert grader._changed_constants(read_submission(write(tmp_path / "same", package("unet/", reference())))) == []


def test_the_keyword_hint_names_the_function_before_the_error_and_reads_a_long_run_of_letters_once():
    """The function's name is read just before "() got an unexpected keyword argument": the same name as the
    pattern that began with it, which retried at every letter of a student's 7,900 é (a minute of the
    grader's time per submission, red team)."""
    said = explain("TypeError: unet.ResBlock.forward() got an unexpected keyword argument 'temb'", "ResBlock")
    assert said.startswith("unet.ResBlock.forward must accept the keyword argument temb")
    assert explain("RuntimeError: " + "é" * 7900 + "() got an unexpected keyword argument 'x'", "ResBlock")
    assert "keyword" not in (explain("RuntimeError: " + "é" * 7900, "ResBlock") or "")


def test_the_class_report_rounds_ascii_numbers_only():
    """Mistakes are grouped by their output with numbers rounded; digits of other scripts are text (a run of
    4,000 Arabic-Indic digits was retried digit by digit, quadratically, at every report)."""
    from autograder.pages.class_report import _key

    assert _key("off by 0.123456 and 1e-7, at 12") == "off by 0.123 and 1e-07, at 12"
    arabic = "\u0663\u0663.\u0663" + "\u0663" * 4000
    assert _key(arabic) == arabic
