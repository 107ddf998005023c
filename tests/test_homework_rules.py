"""Every rule a homework docstring says the grader checks is checked, and every homework check is a rule
the docstring states; the rules watched in the child hold for every way of meeting them.

``RULES`` maps each homework check to the words of the docstring that state its rule. The first tests
need no grading: they keep the docstrings and the checks in step. The others grade submissions:
correct variants (other hooks, other batch schemes, interleaved training, another way to load the
weights) get full marks, and each rule broken on its own fails exactly its check, with a message that
names the rule.
"""
import re

import pytest
import torch

from autograder.checks import REGISTRY
from autograder.checks.analysis import SHORT_STEPS
from autograder.contract import is_task

from .conftest import SOLUTIONS, full_outputs

# (task, check) -> words of the sentence (or bullet) of the docstring that states the check's rule (or of each)
RULES = {
    ("ShapeTrace", "names_in_order"): "the names of the entries, in the order the outputs are produced",
    ("ShapeTrace", "shapes_match"): "the shape of each entry",
    ("ShapeTrace", "concat_recorded"): "the ``.concat`` entries",
    ("ShapeTrace", "leaves_model_as_found"): "leaves the model as it found it",
    ("SkipAblation", "no_skip_matches"): "its output matches a SimpleUNet's with the same weights whose skips are zeros",
    ("SkipAblation", "experiment_budget"): "both models train for ``steps`` steps",
    ("SkipAblation", "same_start"): "both models start from the same weights",
    ("SkipAblation", "same_batches"): "both models see the same batches of training images, in the same order",
    ("SkipAblation", "batches_drawn_with_replacement"): "drawn at random (with replacement)",
    ("SkipAblation", "training_task"): "reconstruction at timestep 0, trained with Adam",
    ("SkipAblation", "experiment_metrics"): ("the last ``HELD_OUT_IMAGES`` only for the evaluation",
                                             "Evaluation: reconstruct the held-out images",
                                             "gives back the ``steps`` and ``seed`` it was called with"),
    ("SkipAblation", "experiment_reproducible"): ("a run of ``k`` steps is exactly the first ``k`` steps",
                                                  "built right after ``torch.manual_seed(seed)``"),
    ("SkipAblation", "skips_win"): "with skips the UNet reconstructs the held-out images clearly better",
    ("TimestepEmbeddings", "embeddings_match"): "each row is the embedding of its timestep",
    ("TimestepEmbeddings", "similarity_matches"): "the values of the cosine similarity",
    ("TimestepEmbeddings", "similarity_properties"): "symmetric, 1 on the diagonal and within [-1, 1]",
    ("AttentionMap", "map_shape"): "the map's shape",
    ("AttentionMap", "map_matches"): "its values (the query's own weights over the keys)",
    ("AttentionMap", "maps_sum_to_one"): "each map is non-negative and sums to 1",
    ("ParameterBreakdown", "breakdown_matches"): "the count of each top-level part",
    ("ParameterBreakdown", "shares_match"): "each part's share, a fraction of the total",
}


def _flat(text: str) -> str:
    return " ".join(text.split())


def checked_statements(source: str) -> list[str]:
    """Each sentence of a docstring that says the grader checks something, and each bullet of a list
    that such a sentence introduces ("... checks each point:")."""
    statements = []
    for docstring in re.findall(r'"""(.*?)"""', source, flags=re.S):
        paragraphs = re.split(r"\n\s*\n", docstring)
        for index, paragraph in enumerate(paragraphs):
            for sentence in re.split(r"(?<=[.:])\s+(?=[A-Z*])", _flat(paragraph)):
                if "grader checks" not in sentence and "grader watches" not in sentence:
                    continue
                if sentence.endswith("each point:"):
                    following = " ".join(paragraphs[index + 1:index + 2])
                    statements += [_flat(b) for b in re.split(r"\n\s*\* ", "\n" + following) if b.strip()]
                else:
                    statements.append(sentence)
    return statements


def test_every_homework_check_states_its_rule_in_a_docstring_and_every_stated_rule_is_checked():
    statements = checked_statements((SOLUTIONS / "analysis.py").read_text(encoding="utf-8"))
    assert len(statements) >= len(RULES) - 4  # several rules share a sentence; a parse that finds nothing fails
    homework = {(c.component, c.id) for c in REGISTRY if is_task(c.component)}
    assert homework == set(RULES), "a homework check without its rule here, or a rule without its check"
    phrases = [(key, _flat(w)) for key, words in RULES.items() for w in ((words,) if isinstance(words, str) else words)]
    for key, words in phrases:
        holding = [s for s in statements if words in s]
        assert len(holding) == 1, f"{key}: {words!r} is in {len(holding)} 'the grader checks' statements"
    for statement in statements:
        assert any(words in statement for _, words in phrases), f"no check for: {statement!r}"


def test_the_sentence_parser_finds_bullets_and_sentences():
    source = '''"""Intro. The grader checks the first thing. Not this.

    The grader checks each point:

    * one rule;
    * another rule.
    """'''
    assert checked_statements(source) == ["The grader checks the first thing.", "one rule;", "another rule."]


def test_skip_ablation_chooses_its_threads_and_its_numbers_do_not_depend_on_them():
    from .test_analysis import analysis

    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append(analysis.skip_ablation(steps=3, seed=2))
            assert torch.get_num_threads() == threads  # the caller's setting comes back
    finally:
        torch.set_num_threads(before)
    one, two = runs
    for key in ("with_skips", "without_skips"):
        assert one[key]["losses"] == two[key]["losses"]
        assert torch.equal(one[key]["reconstructions"], two[key]["reconstructions"])


# --- the experiment's public rules in this process, as check.py runs them ---------------------------

_SEPARATE_WEIGHTS = ("        without_skips.load_state_dict(with_skips.state_dict())\n", "")
_OTHER_BATCHES = ("            batch_order = torch.Generator().manual_seed(seed)\n",
                  '            batch_order = torch.Generator().manual_seed(seed if name == "with_skips" else seed + 1)\n')


def _analysis_module(folder, source: str):
    """The reference package with ``source`` as its analysis.py, imported under a name of its own."""
    import importlib
    import importlib.util
    import shutil
    import sys

    shutil.copytree(SOLUTIONS, folder)
    (folder / "analysis.py").write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(folder.name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    sys.modules[folder.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[folder.name])
    return importlib.import_module(f"{folder.name}.analysis")


def test_the_experiments_public_rules_say_which_rule_a_short_run_breaks(tmp_path):
    """same_start and same_batches judge check.py's short run: correct variants (interleaved training, the
    NoSkipUNet built first, one list of batches; the two models trained at once in threads) pass; separate weights fail same_start alone, batches drawn
    from another seed fail same_batches alone, each naming its rule; the run is trained once for all three."""
    from autograder import rules
    from autograder.checks.analysis import SEED

    sources = {"correct": CORRECT_VARIANTS, "threads": THREADED, "weights": _edit(REFERENCE, _SEPARATE_WEIGHTS),
               "batches": _edit(REFERENCE, _OTHER_BATCHES)}
    verdicts = {}
    for name, source in sources.items():
        module = _analysis_module(tmp_path / f"homework_{name}", source)
        view = rules.LocalView(None, module)
        expect = {"steps": SHORT_STEPS, "seed": SEED, **{k: getattr(module, k) for k in rules.EXPERIMENT_SETTINGS}}
        runs = []
        original = module.skip_ablation
        module.skip_ablation = lambda *args: runs.append(args) or original(*args)
        for kind in ("experiment_protocol", "same_start", "same_batches"):
            try:
                rules.RULES[kind](view, {}, expect)
            except rules.Failed as failed:
                verdicts[name, kind] = failed.message
        assert runs == [(SHORT_STEPS, SEED)], name  # one watched run answers the three rules
    what = f"skip_ablation({SHORT_STEPS}, seed={SEED})"
    assert verdicts == {
        ("weights", "same_start"): f"{what}: the two models started from different weights: the rule is that the "
                                   "NoSkipUNet holds the SimpleUNet's initial weights",
        ("batches", "same_batches"): f"{what}: the two models saw different batches at step 1: the rule is that both "
                                     "models see the same batches of training images, in the same order",
    }


# --- grading: correct variants get full marks, each broken rule fails exactly its check -------------

def _edit(source: str, *edits: tuple[str, str]) -> str:
    for find, replace in edits:
        assert source.count(find) == 1, find
        source = source.replace(find, replace)
    return source


REFERENCE = (SOLUTIONS / "analysis.py").read_text(encoding="utf-8")
_HOOKS = "handles.append(module.register_forward_hook(record_output(name)))"
_LOOP_START = '        for name, model in (("with_skips", with_skips), ("without_skips", without_skips)):\n'

# shape_trace by stepping through named_modules with pre- and post-hooks kept in a dict, removed in
# __del__-free code; skip_ablation drawing all batches up front (torch.multinomial, with replacement), training both models in one loop
# (interleaved), with the NoSkipUNet built first and the SimpleUNet loading its weights, and AdamW
# without weight decay (an Adam) whose learning rate is a tensor; the evaluation under inference_mode; the held-out images returned in float64;
# each run's trained model returned too, under a key of the student's own (no key the grader reads).
CORRECT_VARIANTS = _edit(
    REFERENCE,
    ("        with torch.no_grad():  # shapes only: no graph to keep\n            model(x, t)\n",
     "        was_training = model.training\n        model.eval()\n        with torch.inference_mode():\n"
     "            model(x, t)\n        model.train(was_training)\n"),
    ("        with_skips = SimpleUNet(1, 1, BASE_CHANNELS)\n        without_skips = NoSkipUNet(1, 1, BASE_CHANNELS)\n"
     "        without_skips.load_state_dict(with_skips.state_dict())\n",
     "        without_skips = NoSkipUNet(1, 1, BASE_CHANNELS)\n        with_skips = SimpleUNet(1, 1, BASE_CHANNELS)\n"
     "        with_skips.load_state_dict(without_skips.state_dict())\n"),
    (_LOOP_START + '            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)\n'
     '            batch_order = torch.Generator().manual_seed(seed)\n',
     '        order = torch.Generator().manual_seed(seed)\n'
     '        batches = [train[torch.multinomial(torch.ones(len(train)), BATCH_SIZE, replacement=True, generator=order)]\n'
     '                   for _ in range(steps)]\n'
     '        models = {"with_skips": with_skips, "without_skips": without_skips}\n'
     '        optimizers = {k: torch.optim.AdamW(m.parameters(), lr=torch.tensor(LEARNING_RATE), weight_decay=0.0)\n'
     '                      for k, m in models.items()}\n'
     '        curves = {k: [] for k in models}\n'
     '        for batch in batches:\n'
     '            for k, m in models.items():\n'
     '                loss = ((m(batch, torch.zeros(len(batch), dtype=torch.long)) - batch) ** 2).mean()\n'
     '                optimizers[k].zero_grad()\n'
     '                loss.backward()\n'
     '                optimizers[k].step()\n'
     '                curves[k].append(float(loss))\n'
     + _LOOP_START),
    ("            timesteps = torch.zeros(BATCH_SIZE, dtype=torch.long)\n            losses = []\n"
     "            for _ in range(steps):\n",
     "            losses = curves[name]\n            for _ in range(0):\n"),
    ('"images": held_out', '"images": held_out.double()'),  # the same images in float64
    ('"reconstructions": reconstructions}', '"reconstructions": reconstructions, "model": model}'),  # a key of one's own
)


def _check_results(report, task: str) -> dict:
    return {c.check_id: c for c in report.checks if c.component == task}


# skip_ablation training its two models at once, one thread each (its own optimizer and generator, the
# results bit-identical to the reference's); a barrier before every step's forward makes the two threads'
# forward calls overlap every step, as a thread pool's may on any run.
THREADED = _edit(
    REFERENCE,
    (_LOOP_START, "        import threading\n        from concurrent.futures import ThreadPoolExecutor\n\n"
                  "        in_step = threading.Barrier(2, timeout=60)\n\n        def run(name, model):\n"),
    ("                loss = F.mse_loss(model(batch, timesteps), batch)\n",
     "                in_step.wait()\n                loss = F.mse_loss(model(batch, timesteps), batch)\n"),
    ('            results[name] = {"losses": losses, "mse": mse, "psnr": 10 * math.log10(1 / mse),\n'
     '                             "reconstructions": reconstructions}\n',
     '            return {"losses": losses, "mse": mse, "psnr": 10 * math.log10(1 / mse),\n'
     '                    "reconstructions": reconstructions}\n\n'
     '        with ThreadPoolExecutor(max_workers=2) as pool:\n'
     '            runs = {name: pool.submit(run, name, model)\n'
     '                    for name, model in (("with_skips", with_skips), ("without_skips", without_skips))}\n'
     '        results.update({name: run.result() for name, run in runs.items()})\n'),
)


def test_models_trained_in_threads_of_their_own_get_full_marks_every_run(grader, make_submission):
    """The watcher keeps each thread's calls apart (hooks fire in every thread): the two models' forward
    calls overlapping in time are each recorded whole, and the record -- so the grade -- is the same
    whatever the scheduling."""
    submission = make_submission({"analysis": THREADED})
    reports = [grader.grade(submission) for _ in range(2)]
    for report in reports:
        failed = {i: c.output[:300] for i, c in _check_results(report, "SkipAblation").items() if not c.passed}
        assert failed == {}
    first, again = ({(c.component, c.check_id): c.score for c in r.checks} for r in reports)
    assert first == again


def test_correct_variants_of_the_homework_get_full_marks(grader, make_submission):
    report = grader.grade(make_submission({"analysis": CORRECT_VARIANTS}))
    for task in ("ShapeTrace", "SkipAblation"):
        failed = {i: c.output for i, c in _check_results(report, task).items() if not c.passed}
        assert failed == {}, task


# shape_trace with one global forward hook (removed with the others) and the parameters frozen for the
# forward pass and unfrozen afterwards: no graph built, nothing left behind.
_HOOK_LOOP = ("        for name, module in model.named_modules():\n            if not name:\n                continue\n"
              "            handles.append(module.register_forward_hook(record_output(name)))\n")
_GLOBAL_HOOK = ("        names = {m: n for n, m in model.named_modules() if n}\n"
                "        handles.append(torch.nn.modules.module.register_module_forward_hook(\n"
                "            lambda m, i, o: record_output(names[m])(m, i, o) if m in names else None))\n"
                "        for name, module in model.named_modules():\n            if not name:\n                continue\n")
_NO_GRAD = "        with torch.no_grad():  # shapes only: no graph to keep\n            model(x, t)\n"
OTHER_CORRECT_TRACE = _edit(
    REFERENCE, (_HOOK_LOOP, _GLOBAL_HOOK),
    (_NO_GRAD, "        frozen = [p for p in model.parameters() if p.requires_grad]\n"
               "        for p in frozen:\n            p.requires_grad_(False)\n        try:\n            model(x, t)\n"
               "        finally:\n            for p in frozen:\n                p.requires_grad_(True)\n"))


def test_a_trace_by_a_global_hook_with_the_parameters_frozen_meanwhile_gets_full_marks(grader, make_submission):
    """Both leave the model as they found it: the hook is removed, every requires_grad put back, and no
    graph was built (gradients on, but no output that requires them)."""
    report = grader.grade(make_submission({"analysis": OTHER_CORRECT_TRACE}))
    failed = {i: c.output for i, c in _check_results(report, "ShapeTrace").items() if not c.passed}
    assert failed == {}


def test_a_loss_module_is_no_model_however_often_it_is_called(grader, make_submission):
    """``criterion = nn.MSELoss()`` made once and called at every step, the most common way to write the loss:
    a module without parameters, so no third model trained (red team: same_start said "trained 3 models")."""
    loss = "                loss = F.mse_loss(model(batch, timesteps), batch)\n"
    report = grader.grade(make_submission({"analysis": _edit(
        REFERENCE, (_LOOP_START, "        criterion = torch.nn.MSELoss()\n" + _LOOP_START),
        (loss, loss.replace("F.mse_loss(", "criterion(")))}))
    failed = {i: c.output[:300] for i, c in _check_results(report, "SkipAblation").items() if not c.passed}
    assert failed == {}


def _with_training(body: str) -> str:
    """REFERENCE with skip_ablation's solution (from the images on) replaced by ``body``."""
    start = REFERENCE.index("        images = shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE, seed)\n")
    end = REFERENCE.index("        return results\n") + len("        return results\n")
    return REFERENCE[:start] + body + REFERENCE[end:]


# Both UNets in one wrapper module of the student's, one Adam over both (Adam steps each element alone: the
# same numbers as two), evaluated through the wrapper; and each UNet wrapped alone, the wrapper giving the timesteps.
_WRAPPED = """        images = shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE, seed)
        train, held_out = images[:TRAIN_IMAGES], images[TRAIN_IMAGES:]

        class Both(torch.nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(seed)
                self.a = SimpleUNet(1, 1, BASE_CHANNELS)
                self.b = NoSkipUNet(1, 1, BASE_CHANNELS)
                self.b.load_state_dict(self.a.state_dict())

            def forward(self, x, t):
                return self.a(x, t), self.b(x, t)

        both = Both()
        optimizer = torch.optim.Adam(both.parameters(), lr=LEARNING_RATE)
        batch_order = torch.Generator().manual_seed(seed)
        losses = {"with_skips": [], "without_skips": []}
        for _ in range(steps):
            batch = train[torch.randint(len(train), (BATCH_SIZE,), generator=batch_order)]
            outputs = both(batch, torch.zeros(BATCH_SIZE, dtype=torch.long))
            each = [F.mse_loss(output, batch) for output in outputs]
            optimizer.zero_grad()
            sum(each).backward()
            optimizer.step()
            for key, loss in zip(losses, each):
                losses[key].append(loss.item())
        with torch.no_grad():
            reconstructed = both(held_out, torch.zeros(len(held_out), dtype=torch.long))
        results = {"steps": steps, "seed": seed, "images": held_out}
        for key, reconstructions in zip(losses, reconstructed):
            mse = F.mse_loss(reconstructions, held_out).item()
            results[key] = {"losses": losses[key], "mse": mse, "psnr": 10 * math.log10(1 / mse),
                            "reconstructions": reconstructions}
        return results
"""


_ALONE = REFERENCE.replace(
    "                loss = F.mse_loss(model(batch, timesteps), batch)\n",
    "                loss = F.mse_loss(Alone(model)(batch), batch)\n").replace(
    _LOOP_START, "        class Alone(torch.nn.Module):\n            def __init__(self, unet):\n"
    "                super().__init__()\n                self.unet = unet\n\n            def forward(self, x):\n"
    "                return self.unet(x, torch.zeros(len(x), dtype=torch.long))\n\n" + _LOOP_START)


@pytest.mark.parametrize("source", [_with_training(_WRAPPED), _ALONE], ids=["both in one wrapper", "each wrapped"])
def test_unets_trained_inside_a_wrapper_of_the_students_get_full_marks(grader, make_submission, source):
    """The watcher records the UNets' calls, whatever module of the student's calls them (red team: the wrapper
    was taken for the one model trained, and the one-UNet wrapper's missing timesteps for nonzero ones)."""
    report = grader.grade(make_submission({"analysis": source}))
    failed = {i: c.output[:300] for i, c in _check_results(report, "SkipAblation").items() if not c.passed}
    assert failed == {}


_NAMED_MODULES_ORDER = [("    return trace\n",
                         "    rank = {n: i for i, (n, _) in enumerate(model.named_modules())}\n"
                         "    return sorted(trace, key=lambda e: rank[e[0].split('[')[0].removesuffix('.concat')])\n")]
# losses kept as tensors: a mistake of format, which the public experiment_budget check charges (once)
_LOSSES_AS_TENSORS = [("                losses.append(loss.item())\n", "                losses.append(loss.detach())\n")]
_LOSSES_CHARGED = ("experiment_budget", "must be a list of floats")
# Each submission breaks one rule of ShapeTrace and one of SkipAblation: each must fail exactly that check.
BROKEN = {
    "hooks kept; models from separate weights": (
        [(_HOOKS, "handles.append(module.register_forward_hook(record_output(name))) if False else "
                  "module.register_forward_hook(record_output(name))")],
        [("        without_skips.load_state_dict(with_skips.state_dict())\n", "")],
        ("leaves_model_as_found", "left", "hook"), ("same_start", "started from different weights")),
    "hooks left when forward raises; batches of held-out images": (
        [("    finally:\n        for handle in handles:\n            handle.remove()\n",
          "    except BaseException:\n        raise\n    for handle in handles:\n        handle.remove()\n")],
        [("                batch = train[torch.randint(len(train), (BATCH_SIZE,), generator=batch_order)]",
          "                batch = images[torch.randint(len(images), (BATCH_SIZE,), generator=batch_order)]")],
        ("leaves_model_as_found", "also when forward raises"), ("same_batches", "not among the training images")),
    "eval mode left; one batch order for the first model, another for the second": (
        [("        with torch.no_grad():  # shapes only: no graph to keep\n",
          "        model.eval()\n        with torch.no_grad():  # shapes only: no graph to keep\n")],
        [("            batch_order = torch.Generator().manual_seed(seed)\n",
          '            batch_order = torch.Generator().manual_seed(seed if name == "with_skips" else seed + 1)\n')],
        ("leaves_model_as_found", "train/eval mode is restored"), ("same_batches", "saw different batches at step 1")),
    "gradients built; timesteps other than 0": (
        [("        with torch.no_grad():  # shapes only: no graph to keep\n            model(x, t)\n",
          "        if True:\n            model(x, t)\n")],
        [("            timesteps = torch.zeros(BATCH_SIZE, dtype=torch.long)\n",
          "            timesteps = torch.full((BATCH_SIZE,), 10, dtype=torch.long)\n")],
        ("leaves_model_as_found", "builds no gradients"), ("training_task", "timesteps other than 0")),
    "weights changed; a step too many (the short run judges it; the reproducibility check keeps its points)": (
        [("    return trace\n", "    with torch.no_grad():\n        next(model.parameters()).add_(1.0)\n    return trace\n")],
        [("            for _ in range(steps):\n", "            for _ in range(steps + 1):\n")],
        ("leaves_model_as_found", "changed the model's weights"), ("experiment_budget", f"trained for {SHORT_STEPS + 1} steps; expected {SHORT_STEPS}")),
    "entries in named_modules() order (one mistake: the concat check keeps its points); evaluation with gradients": (
        _NAMED_MODULES_ORDER,
        [("            with torch.no_grad():  # evaluation: no gradients\n", "            if True:\n")],
        ("names_in_order", "in another order"), ("experiment_metrics", "with gradients on")),
    "entries in named_modules() order; a learning rate of 0.02 (the skips then lose their lead too: one mistake, "
    "one check)": (
        _NAMED_MODULES_ORDER,
        [("torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)", "torch.optim.Adam(model.parameters(), lr=0.02)")],
        ("names_in_order", "in another order"), ("training_task", "learning rate of [0.02]")),
    "entries in named_modules() order; Adam with other betas, a weight decay and amsgrad (one mistake of the "
    "optimizer: training_task names each setting, once)": (
        _NAMED_MODULES_ORDER,
        [("torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)",
          "torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, betas=(0.5, 0.9), weight_decay=0.1, amsgrad=True)")],
        ("names_in_order", "in another order"),
        ("training_task", "betas[0]=0.5", "betas[1]=0.9", "weight_decay=0.1", "amsgrad=True", "torch's defaults")),
    "entries in named_modules() order; AdamW with its default weight decay (an Adam class, not Adam's step)": (
        _NAMED_MODULES_ORDER,
        [("torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)",
          "torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)")],
        ("names_in_order", "in another order"), ("training_task", "AdamW", "weight_decay=0.01", "weight_decay=0")),
    "entries in named_modules() order; the models built with a seed of their own (every child starts from one "
    "random state, so the runs still agree)": (
        _NAMED_MODULES_ORDER,
        [("        torch.manual_seed(seed)\n", "        torch.manual_seed(0)\n")],
        ("names_in_order", "in another order"),
        ("experiment_reproducible", "did not start from the weights that torch.manual_seed(1) gives it")),
    "entries in named_modules() order; a NoSkipUNet that keeps one skip (the skips then lose their lead too: one "
    "mistake, one check)": (
        _NAMED_MODULES_ORDER,
        [("        h = self.up2(h, torch.zeros_like(skip1), t_emb)\n", "        h = self.up2(h, skip1, t_emb)\n")],
        ("names_in_order", "in another order"), ("no_skip_matches", "differs from the reference")),
    "hooks kept; losses kept as tensors (the format costs its public check once; the rest judge the run)": (
        [(_HOOKS, "handles.append(module.register_forward_hook(record_output(name))) if False else "
                  "module.register_forward_hook(record_output(name))")],
        _LOSSES_AS_TENSORS,
        ("leaves_model_as_found", "left", "hook"), _LOSSES_CHARGED),
    "eval mode left; the seed not passed to shape_images (one mistake of the data: same_batches names it, once)": (
        [("        with torch.no_grad():  # shapes only: no graph to keep\n",
          "        model.eval()\n        with torch.no_grad():  # shapes only: no graph to keep\n")],
        [("        images = shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE, seed)\n",
          "        images = shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE)\n")],
        ("leaves_model_as_found", "train/eval mode is restored"), ("same_batches", "for seed 0, its default", "Pass the seed on")),
    "entries in named_modules() order; each batch a slice of a new permutation (without replacement)": (
        _NAMED_MODULES_ORDER,
        [("train[torch.randint(len(train), (BATCH_SIZE,), generator=batch_order)]",
          "train[torch.randperm(len(train), generator=batch_order)[:BATCH_SIZE]]")],
        ("names_in_order", "in another order"),
        ("batches_drawn_with_replacement", "none of the 12 batches", "holds an image twice", "with replacement")),
    "entries in named_modules() order; batches in turn from one shuffled order, as a DataLoader's epoch": (
        _NAMED_MODULES_ORDER,
        [("            for _ in range(steps):\n                batch = train[torch.randint(len(train), (BATCH_SIZE,), "
          "generator=batch_order)]",
          "            order = torch.randperm(len(train), generator=batch_order)\n            for step in range(steps):\n"
          "                batch = train[order[(step * BATCH_SIZE) % len(train):][:BATCH_SIZE]]")],
        ("names_in_order", "in another order"),
        ("batches_drawn_with_replacement", "every training image once", "with replacement")),
    "entries in named_modules() order; batches from torch's global generator, seeded again before each model's "
    "loop (both models see the same batches, reproducibly: only the generator's source breaks the rule)": (
        _NAMED_MODULES_ORDER,
        [("            batch_order = torch.Generator().manual_seed(seed)\n",
          "            torch.manual_seed(seed)\n            batch_order = None\n")],
        ("names_in_order", "in another order"),
        ("batches_drawn_with_replacement", "torch's global generator", "the same batch at every step from the second on")),
    "entries in named_modules() order; a generator made again at every step (the same batch every step)": (
        _NAMED_MODULES_ORDER,
        [("generator=batch_order)]", "generator=torch.Generator().manual_seed(seed))]")],
        ("names_in_order", "in another order"),
        ("batches_drawn_with_replacement", "seed=1) fed at step 2 the batch of step 1 again", "a new batch at every step")),
    "entries in named_modules() order; the batches drawn up front as columns of a (BATCH_SIZE, steps) draw (a "
    "shorter run draws other first batches)": (
        _NAMED_MODULES_ORDER,
        [("            for _ in range(steps):\n                batch = train[torch.randint(len(train), (BATCH_SIZE,), "
          "generator=batch_order)]\n",
          "            columns = torch.randint(len(train), (BATCH_SIZE, steps), generator=batch_order)\n"
          "            for _ in range(steps):\n                batch = train[columns[:, _]]\n")],
        ("names_in_order", "in another order"),
        ("experiment_reproducible", "its batch at step 1 is another: the batches depend on `steps`", "does not depend on `steps`")),
    "a concat entry for every ResBlock's input, the DownBlocks' too; losses kept as tensors": (
        [("            if isinstance(module, UpBlock):\n                handles.append(module.res.register_forward_pre_hook(",
          "            if isinstance(module, UpBlock) or type(module).__name__ == \"DownBlock\":\n                handles.append(module.res.register_forward_pre_hook(")],
        _LOSSES_AS_TENSORS,
        ("concat_recorded", "down1.concat", "as well", "no other module does"),
        _LOSSES_CHARGED),
    "each concat entry recorded twice (two pre-hooks); losses kept as tensors": (
        [("                handles.append(module.res.register_forward_pre_hook(record_concat(name)))\n",
          "                handles.append(module.res.register_forward_pre_hook(record_concat(name)))\n"
          "                handles.append(module.res.register_forward_pre_hook(record_concat(name)))\n")],
        _LOSSES_AS_TENSORS,
        ("concat_recorded", "more than once"), _LOSSES_CHARGED),
    "entries in named_modules() order; each batch used for two steps": (
        _NAMED_MODULES_ORDER,
        [("                batch = train[torch.randint(len(train), (BATCH_SIZE,), generator=batch_order)]\n",
          "                if _ % 2 == 0:\n"
          "                    batch = train[torch.randint(len(train), (BATCH_SIZE,), generator=batch_order)]\n")],
        ("names_in_order", "in another order"),
        ("batches_drawn_with_replacement", "fed at step 2 the batch of step 1 again")),
    "entries in named_modules() order; a new generator every step, seeded with seed + step (seed 2 then feeds seed "
    "1's batches a step early)": (
        _NAMED_MODULES_ORDER,
        [("generator=batch_order)]", "generator=torch.Generator().manual_seed(seed + _))]")],
        ("names_in_order", "in another order"),
        ("batches_drawn_with_replacement", "seed=2) fed at step 1 the training images of the same positions as "
         "skip_ablation(12, seed=1) at step 2", "does not follow the seed")),
    "entries in named_modules() order; losses kept as numpy arrays (read as the tensors they hold: the format "
    "costs its public check once, as for tensors)": (
        _NAMED_MODULES_ORDER,
        [("                losses.append(loss.item())\n", "                losses.append(loss.detach().numpy())\n")],
        ("names_in_order", "in another order"), _LOSSES_CHARGED),
    "entries in named_modules() order; the held-out images reconstructed at timestep 500 (red team: full marks)": (
        _NAMED_MODULES_ORDER,
        [("reconstructions = model(held_out, torch.zeros(len(held_out), dtype=torch.long))",
          "reconstructions = model(held_out, torch.full((len(held_out),), 500, dtype=torch.long))")],
        ("names_in_order", "in another order"),
        ("training_task", "reconstructed at timesteps other than 0", "in the evaluation")),
    "entries in named_modules() order; the held-out images reconstructed before the training loop (red team: full "
    "marks, the untrained models' gap happening to pass)": (
        _NAMED_MODULES_ORDER,
        [(_LOOP_START, _LOOP_START.replace("        for", "        early = {}\n        for")),
         ("            with torch.no_grad():  # evaluation: no gradients\n"
          "                reconstructions = model(held_out, torch.zeros(len(held_out), dtype=torch.long))\n",
          "            reconstructions = early[name]\n"),
         ("            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)\n",
          "            with torch.no_grad():\n"
          "                early[name] = model(held_out, torch.zeros(len(held_out), dtype=torch.long))\n"
          "            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)\n")],
        ("names_in_order", "in another order"),
        ("experiment_metrics", "before its last training step", "after the training loop")),
    "entries in named_modules() order; random timesteps at every step, from the global generator (the no-skip "
    "model's then depend on `steps`: one mistake, training_task's)": (
        _NAMED_MODULES_ORDER,
        [("                loss = F.mse_loss(model(batch, timesteps), batch)\n",
          "                loss = F.mse_loss(model(batch, torch.randint(0, 1000, (BATCH_SIZE,))), batch)\n")],
        ("names_in_order", "in another order"), ("training_task", "timesteps other than 0")),
    "a global forward hook left registered (it fires on every model run afterwards); losses kept as tensors": (
        [(_HOOK_LOOP, _GLOBAL_HOOK.replace("        handles.append(torch", "        forgotten = (torch"))],
        _LOSSES_AS_TENSORS,
        ("leaves_model_as_found", "global module hook", "leaves no hook behind"),
        _LOSSES_CHARGED),
    "the parameters frozen for no gradients and left frozen; losses kept as tensors": (
        [(_NO_GRAD, "        for p in model.parameters():\n            p.requires_grad_(False)\n        model(x, t)\n")],
        _LOSSES_AS_TENSORS,
        ("leaves_model_as_found", "switched requires_grad on", "left it so", "torch.no_grad() block"),
        _LOSSES_CHARGED),
    "SimpleUNet's forward copied into shape_trace (the DownBlock's trace raises); losses kept as tensors": (
        [("            model(x, t)\n",
          "            t_emb = model.time_embed(t)\n            h1, s1 = model.down1(x, t_emb)\n"
          "            h2, s2 = model.down2(h1, t_emb)\n            h = model.bottleneck(h2, t_emb)\n"
          "            model.out(model.up2(model.up1(h, s2, t_emb), s1, t_emb))\n")],
        _LOSSES_AS_TENSORS,
        ("names_in_order", "on DownBlock(", "has no attribute 'time_embed'", "any model"),
        _LOSSES_CHARGED),
}


@pytest.mark.parametrize("name", BROKEN, ids=list(BROKEN))
def test_each_broken_rule_fails_exactly_its_check_and_names_the_rule(grader, make_submission, name):
    trace_edits, ablation_edits, (trace_check, *trace_words), (ablation_check, *ablation_words) = BROKEN[name]
    report = grader.grade(make_submission({"analysis": _edit(REFERENCE, *trace_edits, *ablation_edits)}))
    outputs = full_outputs(report)
    for task, check_id, words in (("ShapeTrace", trace_check, trace_words),
                                  ("SkipAblation", ablation_check, ablation_words)):
        results = _check_results(report, task)
        assert {i for i, c in results.items() if not c.passed} == {check_id}, (task, {
            i: c.output[:300] for i, c in results.items() if not c.passed})
        said = outputs[results[check_id].name]
        assert all(w in said for w in words), said


def test_a_digest_covers_dtype_shape_and_every_byte_however_the_tensor_is_laid_out():
    """The child digests the images a model is fed and the grader digests the images it knows: the two
    meet only if the digest depends on the values alone, not on strides or offsets."""
    import hashlib

    from autograder.sandbox.child.watch import digest

    def by_numpy(tensor):
        hasher = hashlib.blake2b(digest_size=12)
        hasher.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        hasher.update(tensor.contiguous().numpy().tobytes())
        return hasher.hexdigest()

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    for tensor in (base, base[:, ::2], base.t(), base[1:3], base[2], torch.tensor([True, False]), torch.zeros(0, 3)):
        assert digest(tensor) == by_numpy(tensor)
    images = torch.rand(3, 1, 4, 4)
    assert [digest(row) for row in images] == [digest(row.clone()) for row in images]
    assert len({digest(base), digest(base.double()), digest(base.reshape(6, 4)), digest(base + 1e-6)}) == 4


def test_the_watchers_record_of_models_trained_in_threads_is_the_same_whatever_the_scheduling():
    """Two models trained in two threads: each model's record is what training it alone gives (every
    forward with its batch, weights and loss, every step), and the whole record is the same whether one
    thread always goes first, the other does, or both are inside their forward calls at once."""
    import threading

    from autograder.sandbox.child.watch import Watcher

    class Tiny(torch.nn.Module):
        def __init__(self, gate=None):
            super().__init__()
            self.layer, self.gate = torch.nn.Linear(3, 3), gate

        def forward(self, x):
            if self.gate is not None:
                self.gate()
            return self.layer(x)

    data = torch.rand(10, 3)

    def train(model, turn=lambda: None, done=lambda: None):
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        draws = torch.Generator().manual_seed(0)
        for _ in range(3):
            batch = data[torch.randint(len(data), (4,), generator=draws)]
            turn()
            loss = ((model(batch) - batch) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done()

    def models(gate=None):
        torch.manual_seed(0)
        return Tiny(gate), Tiny(gate)  # two models, two sets of weights

    def in_turns(order: str) -> list:
        """The steps taken in turns, ``order`` saying whose is first."""
        turns, lock = iter(order * 3), threading.Condition()
        state = {"now": next(turns)}

        def pair(name):
            def turn():
                with lock:
                    lock.wait_for(lambda: state["now"] == name, timeout=30)

            def done():
                with lock:
                    state["now"] = next(turns, None)
                    lock.notify_all()
            return turn, done
        a, b = models()
        return [(a, *pair("a")), (b, *pair("b"))]

    def at_once() -> list:
        inside = threading.Barrier(2, timeout=30)  # both threads inside a forward call at once, every step
        a, b = models(gate=inside.wait)
        return [(a,), (b,)]

    def watched(runs: list, threaded: bool = True) -> dict:
        with Watcher([]) as watcher:
            threads = [threading.Thread(target=train, args=run) for run in runs]
            if not threaded:
                for run in runs:
                    train(*run)
            for thread in threads if threaded else ():
                thread.start()
            for thread in threads if threaded else ():
                thread.join()
        return watcher.report()

    def per_model(report: dict) -> list:
        """Each model's events, numbers left out (steps belong to the model their optimizer holds)."""
        events = {}
        for event in report["events"]:
            for model in [event["model"]] if event["kind"] == "forward" else event["models"]:
                events.setdefault(model, []).append({k: v for k, v in event.items() if k not in ("model", "models")})
        return sorted(events.values(), key=repr)

    alone = watched([(model,) for model in models()], threaded=False)
    assert len(alone["events"]) == 2 * 3 * 2 and all(e["loss"] is not None for e in alone["events"]
                                                       if e["kind"] == "forward")
    records = [watched(in_turns("ab")), watched(in_turns("ba")), watched(at_once())]
    assert records[0] == records[1] == records[2]
    assert per_model(records[0]) == per_model(alone)


def test_images_fed_that_are_no_training_image_are_named_for_what_they_are():
    """A held-out image fed in training and a training image changed on the way (noise added) break the
    same rule for different reasons: the message names the one that happened."""
    from autograder import rules

    def run(rows):
        calls = [{"batch": 2, "rows": rows, "model": 0}]
        return {"with_skips": calls, "without_skips": calls}

    training, held_out = frozenset({"t1", "t2"}), frozenset({"h1"})
    held = rules.batches_problem(run(["t1", "h1"]), training, 2, 2, held_out)
    assert "held-out images are for the evaluation only" in held.text and "generator" in held.hint
    noisy = rules.batches_problem(run(["t1", "n1"]), training, 2, 2, held_out)
    assert "none of shape_images' images" in noisy.text and "held-out" not in noisy.text
    assert "unchanged" in noisy.hint and "generator" not in noisy.hint
    assert rules.batches_problem(run(["t1", "t2"]), training, 2, 2, held_out) is None


def test_a_map_squeezed_once_too_often_costs_its_shape_check_alone(grader, make_submission):
    """``attention_map(...).squeeze()``: the right values, the shape wrong only where B, H or W is 1. The
    shape check charges it; the values and the sums are judged as values."""
    index = "return weights[:, row * width + col].reshape(-1, height, width)"
    assert index in REFERENCE
    report = grader.grade(make_submission({"analysis": REFERENCE.replace(index, index + ".squeeze()")}))
    failed = {i: c.output[:200] for i, c in _check_results(report, "AttentionMap").items() if not c.passed}
    assert set(failed) == {"map_shape"}, failed


@pytest.mark.parametrize("laid_out", ["", ".reshape(-1, width, height)"], ids=["left flat", "reshaped (B, W, H)"])
def test_a_map_laid_out_another_way_costs_its_shape_check_alone(grader, make_submission, laid_out):
    """The query's weights, one row per image, left flat ``(B, H*W)`` or reshaped to ``(B, W, H)``: the
    right numbers in the right order, so the shape check charges it, once (red team: the flat map failed
    all three checks, its sum over the whole batch called "the column of the query")."""
    index = "return weights[:, row * width + col].reshape(-1, height, width)"
    assert index in REFERENCE
    report = grader.grade(make_submission({"analysis": REFERENCE.replace(index, "return weights[:, row * width + col]"
                                                                         + laid_out)}))
    failed = {i: c.output[:200] for i, c in _check_results(report, "AttentionMap").items() if not c.passed}
    assert set(failed) == {"map_shape"}, failed


_CONCAT_HOOK = "                handles.append(module.res.register_forward_pre_hook(record_concat(name)))\n"


@pytest.mark.parametrize("hook, words", [
    ("                handles.append(module.up.register_forward_hook(\n"
     "                    lambda m, i, o, name=name: trace.append((f'{name}.concat', tuple(o.shape)))))\n",
     "upsampled features alone"),
    ("                handles.append(module.register_forward_pre_hook(record_concat(name)))\n", "not the UpBlock's input"),
], ids=["the upsampled features", "the UpBlock's input"])
def test_a_concat_entry_of_something_else_is_told_what_it_recorded(grader, make_submission, hook, words):
    """Red team: both were told the chapter's channel count (12 channels, not 8), which was not their mistake."""
    report = grader.grade(make_submission({"analysis": _edit(REFERENCE, (_CONCAT_HOOK, hook))}))
    results = _check_results(report, "ShapeTrace")
    assert {i for i, c in results.items() if not c.passed} == {"concat_recorded"}
    assert words in full_outputs(report)[results["concat_recorded"].name]


@pytest.mark.parametrize("edits, words", [
    ([("            if not name:\n                continue\n",
       "            if not name or list(module.children()):\n                continue\n")],
     "the blocks that hold others too"),
    ([(_HOOKS, "handles.append(module.register_forward_pre_hook(\n"
               "                lambda m, i, name=name: slots.append((name, m))))\n"
               "            handles.append(module.register_forward_hook(record_output(name)))"),
      ("    trace = []\n", "    trace, slots = [], []\n"),
      ("    return trace\n", "    order = {name: k for k, (name, _) in enumerate(slots)}\n"
                           "    return sorted(trace, key=lambda e: order.get(e[0].split('[')[0].removesuffix('.concat'), -1))\n")],
     "record each module when it finishes"),
], ids=["leaf layers only", "each block where it starts"])
def test_a_trace_missing_or_misordering_its_blocks_is_told_which(grader, make_submission, edits, words):
    """Red team: a trace of the leaf layers alone was told about tuple entries, one ordered as the calls start
    about named_modules()."""
    report = grader.grade(make_submission({"analysis": _edit(REFERENCE, *edits)}))
    results = _check_results(report, "ShapeTrace")
    assert not results["names_in_order"].passed
    assert words in full_outputs(report)[results["names_in_order"].name]


def test_timesteps_made_integers_are_told_so(grader, make_submission):
    source = _edit(REFERENCE, ("torch.as_tensor(timesteps).reshape(-1), dim)", "torch.as_tensor(timesteps).reshape(-1).long(), dim)"))
    report = grader.grade(make_submission({"analysis": source}))
    results = _check_results(report, "TimestepEmbeddings")
    assert {i for i, c in results.items() if not c.passed} == {"embeddings_match"}
    assert "timesteps made integers" in full_outputs(report)[results["embeddings_match"].name]


def test_the_first_images_map_alone_costs_the_shape_check_alone(grader, make_submission):
    """``weights[0, query]``: the right map of the first image, the batch dropped (red team: map_matches said
    "expected shape" as well). One mistake of the shape; the values are judged on the image it holds."""
    index = "return weights[:, row * width + col].reshape(-1, height, width)"
    report = grader.grade(make_submission({"analysis": _edit(
        REFERENCE, (index, "return weights[0, row * width + col].reshape(height, width)"))}))
    failed = {i: c.output[:200] for i, c in _check_results(report, "AttentionMap").items() if not c.passed}
    assert set(failed) == {"map_shape"}, failed


@pytest.mark.parametrize("edits, words", [
    ([("torch.zeros_like(skip2)", "torch.ones_like(skip2)"), ("torch.zeros_like(skip1)", "torch.ones_like(skip1)")],
     "ones in place of the skips"),
    ([("torch.zeros_like(skip1)", "skip1")], "up2 still gets skip1"),
    ([("        h = self.bottleneck(h2, t_emb)\n        h = self.up1(h,", "        h = self.up1(h2,")],
     "without its bottleneck"),
], ids=["ones", "one skip kept", "no bottleneck"])
def test_a_no_skip_unet_with_a_common_mistake_is_told_which(grader, make_submission, edits, words):
    """Each computes what the reference's layers give with that mistake (red team: one hint for all three)."""
    report = grader.grade(make_submission({"analysis": _edit(REFERENCE, *edits)}))
    results = _check_results(report, "SkipAblation")
    assert not results["no_skip_matches"].passed
    assert words in full_outputs(report)[results["no_skip_matches"].name]


def test_a_no_skip_unet_that_keeps_simpleunets_forward_is_told_where_the_skips_must_go(grader, make_submission):
    """A NoSkipUNet whose forward is SimpleUNet's (a switch read by the student's own SimpleUNet.forward
    does nothing on the reference's): the hint says only NoSkipUNet's own forward may drop the skips."""
    assert REFERENCE.count("    def forward(self, x, t):\n") == 1
    report = grader.grade(make_submission({"analysis": REFERENCE.replace("    def forward(self, x, t):\n",
                                                                         "    def _forward_unused(self, x, t):\n")}))
    results = _check_results(report, "SkipAblation")
    assert not results["no_skip_matches"].passed
    assert "write NoSkipUNet.forward" in full_outputs(report)[results["no_skip_matches"].name]


def test_the_watcher_reads_a_models_call_however_it_is_made():
    """Images and timesteps by position or by name, the model run as model.forward (which no hook sees),
    the same images in float64: each is one call of the model, recorded alike -- its images' digests
    are the float32 images' (what the grader digests), timestep 0 each, the loss its output's MSE."""
    import sys

    from autograder.sandbox.child.watch import Watcher, digest, image_digest

    from .test_analysis import SimpleUNet

    torch.manual_seed(0)
    model = SimpleUNet(1, 1, 4)
    x, t = torch.rand(3, 1, 8, 8), torch.zeros(3, dtype=torch.long)
    styles = {"positional": lambda m, x, t: m(x, t), "t by name": lambda m, x, t: m(x, t=t),
              "both by name": lambda m, x, t: m(x=x, t=t), "forward": lambda m, x, t: m.forward(x, t),
              "forward, t by name": lambda m, x, t: m.forward(x, t=t)}
    calls = {name: (model, x, t, style) for name, style in styles.items()}
    calls["float64"] = (SimpleUNet(1, 1, 4).double(), x.double(), t.double(), styles["positional"])
    for name, (m, images, timesteps, call) in calls.items():
        with Watcher([]) as watcher:
            with torch.no_grad():
                out = call(m, images, timesteps)
        events = watcher.report()["events"]
        assert [(e["class"], e["batch"], e["rows"], e["timesteps"]) for e in events] == [
            ("SimpleUNet", 3, [digest(row) for row in x], [0.0] * 3)], name
        assert events[0]["loss"] == pytest.approx(((out.double() - images.double()) ** 2).mean().item()), name
        assert sys.gettrace() is None, name  # model.forward's return was watched, and the watching ended
    assert image_digest(x.double()[0]) == digest(x[0])
    assert image_digest(x.double()[0] + 1e-9) != digest(x[0])  # float64 images that are no float32 image stay other


def _forward(model: int, batch: int, grad: bool = True) -> dict:
    return {"kind": "forward", "model": model, "class": ["SimpleUNet", "NoSkipUNet"][model], "grad": grad,
            "rows": [f"r{batch}"], "batch": batch}


def _step(*models: int) -> dict:
    return {"kind": "step", "models": list(models)}


def test_a_training_step_is_a_forward_an_optimizer_step_follows():
    """A forward with gradients on that no step of its model follows -- a shape check before training, a
    training-set MSE after it -- is no training step; a model no step ever holds keeps every forward (its
    missing updates are skips_win's to name). Models trained together by one optimizer step both count."""
    from autograder import rules

    run = [_forward(0, 2), _forward(0, 8), _step(0), _forward(0, 8), _step(0), _forward(0, 64),
           _forward(1, 2), _forward(1, 8), _step(1), _forward(1, 8), _step(1), _forward(1, 64)]
    trained = rules.training_calls(run)
    assert [[c["batch"] for c in trained[key]] for key in ("with_skips", "without_skips")] == [[8, 8], [8, 8]]
    together = [_forward(0, 8), _forward(1, 8), _step(0, 1), _forward(0, 8), _forward(1, 8), _step(0, 1)]
    assert [len(calls) for calls in rules.training_calls(together).values() if isinstance(calls, list)] == [2, 2]
    unstepped = [_forward(0, 8), _forward(0, 8), _forward(1, 8), _step(1)]
    trained = rules.training_calls(unstepped)
    assert (len(trained["with_skips"]), len(trained["without_skips"])) == (2, 1)


def test_held_out_images_transformed_like_the_training_images_are_one_data_mistake():
    """Images rescaled to [-1, 1] (or standardised) before the split are the held-out images transformed as
    the training images were: experiment_metrics leaves that mistake to same_batches; other images are not."""
    from autograder.checks.analysis import _rescaled

    images = torch.rand(4, 1, 8, 8)
    assert _rescaled(images * 2 - 1, images) and _rescaled((images - 0.3) / 0.2, images)
    assert _rescaled(images.double() * 255, images)
    assert not _rescaled(images + 0.01 * torch.rand_like(images), images)
    assert not _rescaled(images.flip(0) * 2 - 1, images) and not _rescaled(torch.zeros_like(images), images)
    assert not _rescaled(images[:2] * 2 - 1, images)
