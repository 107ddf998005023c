"""A class of submissions as students really hand them in, made from the reference.

Every way of handing in *correct* code that we have seen -- import styles, one big file under any
name, classes in files of their own choosing, folders any depth down, zips in zips, macOS junk,
notebooks, Windows encodings, renamed and re-downloaded files, third-party imports, top-level code
that hangs -- each must get full marks. The undecidable ones (empty, nothing gradable, two
different attempts) must be flagged ``needs_review``. Each student's expectation is stated here,
independently of the grader: full marks, or the status and the reason's key phrase.

``make_class(folder)`` writes one entry per student; ``as_gradescope_export`` and ``as_nbgrader``
lay the same class out as Gradescope's export and an nbgrader course's ``submitted/``.
"""
import base64
import io
import json
import re
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions" / "unet"
MODULES = ("time_embedding", "res_block", "down_block", "up_block", "unet", "attention", "analysis")
_RELATIVE = re.compile(r"^from \.(\w+) import (\w+)\n", re.MULTILINE)


class Sparse(int):
    """A file of this many zero bytes, written without filling the disk (a checkpoint, a data set)."""


@dataclass(frozen=True)
class Expectation:
    full_marks: bool | None = True  # None: not asserted (a needs_review submission graded one way or another)
    status: str = "graded"
    says: str = ""  # a phrase the notes or review reasons must contain
    losing: tuple = ()  # components that must lose points (the others keep theirs)
    keeping: tuple = ()  # of those, components whose working parts must keep some points
    name: str = ""  # the student's name as the name column must show it (default: the folder's name)


def reference() -> dict[str, str]:
    return {m: (SOLUTIONS / f"{m}.py").read_text(encoding="utf-8") for m in MODULES}


def restyled(style) -> dict[str, str]:
    """The reference with every ``from .module import Name`` rewritten by ``style(module, name)``."""
    return {m: _RELATIVE.sub(lambda match: style(*match.groups()) + "\n", text) for m, text in reference().items()}


def one_file() -> str:
    """Every module in one file: the package's own imports dropped, the others said once."""
    seen, parts = set(), []
    for text in reference().values():
        lines = []
        for line in _RELATIVE.sub("", text).splitlines():
            if line.startswith(("import ", "from ")):
                if line in seen:
                    continue
                seen.add(line)
            lines.append(line)
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write(folder: Path, files: dict) -> Path:
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Sparse):
            with open(path, "wb") as handle:
                handle.truncate(content)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def zipped(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def tarred(files: dict[str, str | bytes], compression: str = "") -> bytes:
    """A tar (``compression``: "", "gz", "bz2" or "xz") of ``files``, as ``tar -c`` would make it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as archive:
        for name, content in files.items():
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def notebook(cells: list[str], outputs: list | None = None) -> str:
    """``outputs``: per cell, what Jupyter saved below it (plots are base64 PNGs)."""
    outputs = outputs or [[] for _ in cells]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                       "cells": [{"cell_type": "code", "metadata": {}, "outputs": out, "execution_count": None,
                                  "source": cell} for cell, out in zip(cells, outputs)]})


def plot_output(megabytes: float) -> dict:
    """One saved plot of about ``megabytes`` (incompressible, as PNGs are)."""
    import random

    noise = random.Random(7).randbytes(int(megabytes * 3 / 4 * (1 << 20)))
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(noise).decode(), "text/plain": "<Figure size 640x480>"}}


def star_package() -> dict[str, str]:
    """A package as Python runs it: ``unet/__init__.py`` star-imports every module, each module says
    what it exports with ``__all__`` and takes what it needs with ``from unet import *`` (the
    package, not ``unet/unet.py``). ``up_block.py`` ends with a name it does not export: a star
    import that ignored ``__all__`` would hand attention.py ``math = None``."""
    files = {}
    for module, text in reference().items():
        symbols = [name for name in re.findall(r"^(?:class|def) (\w+)", text, re.MULTILINE)
                   if not name.startswith("_")]
        body = _RELATIVE.sub("from unet import *\n", text)
        files[f"unet/{module}.py"] = f"__all__ = {symbols!r}\n" + body
    files["unet/up_block.py"] += "\nmath = None  # a leftover from a draft; not in __all__, so never exported\n"
    files["unet/__init__.py"] = "".join(f"from .{m} import *\n" for m in MODULES)
    return files


def dot_star_package() -> dict[str, str]:
    """``unet/__init__.py`` imports the names analysis.py needs, one by one, and analysis.py takes
    them with ``from . import *``: the package's names, not its modules' (Python runs it)."""
    files = package("unet/", reference())
    files["unet/analysis.py"] = _RELATIVE.sub("", files["unet/analysis.py"]).replace(
        "import torch.nn.functional as F\n", "import torch.nn.functional as F\n\nfrom . import *\n", 1)
    files["unet/__init__.py"] = ("from .time_embedding import TimeEmbedding, sinusoidal_embedding\n"
                                 "from .res_block import ResBlock\nfrom .up_block import UpBlock\nfrom .unet import SimpleUNet\n")
    return files


def package(prefix: str, sources: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}{m}.py": text for m, text in sources.items()}


HANG = "\nwhile True:  # a test the student left at the bottom, that never ends\n    pass\n"
PLOTS = "import matplotlib.pyplot as plt\nimport numpy as np\n"


def _students() -> dict[str, tuple[dict, Expectation]]:
    ref = reference()
    bare = restyled(lambda module, name: f"from {module} import {name}")
    dotted = restyled(lambda module, name: f"from unet.{module} import {name}")
    package_root = restyled(lambda module, name: f"from unet import {name}")
    mixed = dict(ref, down_block=bare["down_block"], unet=dotted["unet"], attention=package_root["attention"])
    module_attribute = restyled(lambda module, name: f"from . import {module}\n{name} = {module}.{name}")
    single = one_file()
    spread = {
        "embedding.py": ref["time_embedding"],
        "blocks.py": _RELATIVE.sub("", ref["res_block"] + ref["down_block"] + ref["up_block"]),
        "network.py": "from embedding import TimeEmbedding\nfrom blocks import DownBlock, ResBlock, UpBlock\n"
                      + _RELATIVE.sub("", ref["unet"]),
        "attn.py": "from blocks import ResBlock\n" + _RELATIVE.sub("", ref["attention"]),
        "homework.py": "from embedding import sinusoidal_embedding\nfrom blocks import UpBlock\n"
                       "from network import SimpleUNet\n" + _RELATIVE.sub("", ref["analysis"]),
    }
    broken_attention = ref["attention"].replace("softmax(scores, dim=-1)", "softmax(scores, dim=1)")
    release = {"check.py": "print('the public checks')\n", "public_checks.json": "{}", "README.md": "# UNet\n",
               **package("unet/", ref), "unet/__init__.py": '"""The package."""\n',
               "unet_chapter.ipynb": notebook(["from unet.unet import SimpleUNet\nprint(SimpleUNet())"])}
    writefile = notebook(["!pip install einops\n%matplotlib inline"]
                         + [f"%%writefile unet/{m}.py\n{text}" for m, text in ref.items()]
                         + ["from unet.unet import SimpleUNet\nmodel = SimpleUNet()\nprint(model)"])
    training = "for step in range(10**9):\n    loss = model(x, t).mean()\n    loss.backward()\n"
    cells = notebook(["%matplotlib inline\nimport torch\nimport torch.nn as nn\nimport math",
                      "!nvidia-smi", _RELATIVE.sub("", ref["time_embedding"]), _RELATIVE.sub("", ref["res_block"]),
                      "x = torch.randn(2, 4, 64, 64)\nt = torch.randint(0, 1000, (2,))",
                      _RELATIVE.sub("", ref["down_block"] + ref["up_block"]), _RELATIVE.sub("", ref["unet"]),
                      "model = SimpleUNet()\n" + training, "plt.imshow(x[0, 0])\nplt.show()",
                      _RELATIVE.sub("", ref["attention"]), _RELATIVE.sub("", ref["analysis"]),
                      "results = skip_ablation()\nprint(results['with_skips']['psnr'])"])
    crlf_bom = {f"{m}.py": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode() for m, text in ref.items()}
    utf16 = {f"{m}.py": text.encode("utf-16") for m, text in ref.items()}
    cp1252 = dict(package("", ref), **{"res_block.py": ("# Réseau résiduel — écrit à Paris\n" + ref["res_block"]).encode("cp1252")})
    einops = dict(ref, attention="from einops import rearrange\n" + ref["attention"].replace(
        "q = q.reshape(B, C, H * W).transpose(1, 2)", "q = rearrange(q, 'b c h w -> b (h w) c')"))
    # The chapter's TimeEmbedding as printed: the sinusoid inline in forward, no sinusoidal_embedding.
    inline_sinusoid = ref["time_embedding"].replace(
        "        return self.mlp(sinusoidal_embedding(t, self.dim))",
        "        half = self.dim // 2\n"
        "        freqs = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000.0) / (half - 1)))\n"
        "        angles = t[:, None] * freqs[None, :]\n"
        "        return self.mlp(torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1))")
    no_helper = re.sub(r"\ndef sinusoidal_embedding\(.*?(?=\nclass )", "\n", inline_sinusoid, flags=re.DOTALL)
    # Calls the sinusoid one timestep at a time, as it comes: a Python number from the docstring's "a
    # sequence (list, range)", a 0-d tensor from a tensor. The student's own sinusoid takes both.
    # And "every image gets timestep 0" as the number 0, which the stand-in SimpleUNet takes too.
    one_by_one = ref["analysis"].replace(
        "    return sinusoidal_embedding(torch.as_tensor(timesteps).reshape(-1), dim)",
        "    return torch.cat([sinusoidal_embedding(step, dim) for step in timesteps])").replace(
        "model(batch, timesteps)", "model(batch, 0)").replace(
        "model(held_out, torch.zeros(len(held_out), dtype=torch.long))", "model(held_out, 0)")
    assert one_by_one.count("model(batch, 0)") == 1 and "model(held_out, 0)" in one_by_one
    helpers = {  # the student's own helper file, called from theirs
        **package("", dict(ref, time_embedding=_RELATIVE.sub("", ref["time_embedding"]).replace(
            "def sinusoidal_embedding(t, dim):", "def _unused(t, dim):").replace(
            "import torch.nn as nn\n", "import torch.nn as nn\n\nfrom utils import sinusoidal_embedding\n", 1))),
        "utils.py": "import math\n\nimport torch\n\n\n" + re.search(
            r"def sinusoidal_embedding\(.*?(?=\nclass )", ref["time_embedding"], re.DOTALL).group(0),
    }
    jit = dict(ref, res_block=ref["res_block"].replace(
        "        h = self.conv1(torch.relu(self.norm1(x)))", "        h = self.conv1(_relu(self.norm1(x)))")
        + "\n\n@torch.jit.script\ndef _relu(x: torch.Tensor) -> torch.Tensor:\n    return torch.relu(x)\n",
        attention=ref["attention"].replace("    def forward(self, x", "    @torch.compile(mode=\"reduce-overhead\")\n"
                                           "    def forward(self, x", 1))
    colab = notebook(["import math\nimport torch\nimport torch.nn as nn"] + [_RELATIVE.sub("", ref[m]) for m in MODULES]
                     + ["model = SimpleUNet()\nplt.imshow(model(x, t)[0, 0].detach())"],
                     [[]] + [[] for _ in MODULES] + [[plot_output(3), plot_output(3)]])
    return {
        # how students write code (issue 18)
        "star_package": (star_package(), Expectation()),
        "dot_star_package": (dot_star_package(), Expectation()),
        "missing_helper": (package("", dict(ref, time_embedding=no_helper)),
                           Expectation(full_marks=False, says="does not define sinusoidal_embedding",
                                       losing=("TimeEmbedding",), keeping=("TimeEmbedding",))),
        "int_timesteps": (package("", dict(ref, analysis=one_by_one)), Expectation()),
        "own_helper_file": (helpers, Expectation()),
        "jit_and_compile": (package("", jit), Expectation(says="torch.compile is switched off while grading")),
        # what students hand in (issue 18)
        "tar_in_tar": ({"hw.tar": tarred({"v2/code.tar.bz2": tarred({"unet.tar.xz": tarred(package("unet/", ref), "xz")},
                                                                      "bz2")})}, Expectation()),
        # handed in as one archive, not a folder (in Gradescope and nbgrader: the only file in their folder)
        "Nadia Müller.tgz": ({ITSELF: tarred(package("unet/", ref), "gz")}, Expectation(name="Nadia Müller")),
        "rar_hand_in.rar": ({ITSELF: b"Rar!\x1a\x07\x01\x00" + bytes(64)},
                            Expectation(full_marks=False, status="needs_review", says="which the grader cannot open")),
        "colab_with_plots": ({"UNet.ipynb": colab}, Expectation()),
        # import styles
        "relative": (package("", ref), Expectation()),
        "bare": (package("", bare), Expectation()),
        "dotted_package": (package("unet/", dotted), Expectation()),
        "package_root": (package("", package_root), Expectation()),
        "mixed_styles": (package("unet/", mixed), Expectation()),
        "module_attribute": (package("", module_attribute), Expectation()),
        # where the classes are
        "one_unet_py": ({"unet.py": single}, Expectation(says="are graded from unet.py")),
        "one_solution_py": ({"solution.py": single}, Expectation(says="are graded from solution.py")),
        "one_model_py_deep": ({"hw/model.py": single, "hw/train.py": "import model\n"}, Expectation()),
        "own_file_names": (spread, Expectation(says="are graded from blocks.py")),
        # layouts
        "deep_folders": (package("HW3/Submission/Submission/unet/", ref), Expectation(says="HW3/Submission/Submission/unet/")),
        "zip_in_zip": ({"outer.zip": zipped({"inner.zip": zipped(package("unet/", ref))})}, Expectation()),
        "macos_zip": ({"unet.zip": zipped({**package("unet/", ref), "__MACOSX/unet/._unet.py": b"\x00\x05\x16\x07",
                                           "unet/.DS_Store": b"\x00\x00\x00\x01Bud1"})}, Expectation()),
        "checkpoints_and_caches": ({**package("", ref), ".ipynb_checkpoints/attention-checkpoint.py": broken_attention,
                                    "__pycache__/attention.cpython-311.pyc": b"\x00junk"}, Expectation()),
        "big_unrelated_files": ({**package("", ref), "weights/model.pt": Sparse(60 << 20),
                                 "data/train.csv": "x,y\n" * 1000}, Expectation()),
        "release_handed_back": (release, Expectation()),
        "current_and_old": ({**package("unet/", ref), **package("unet_old/", dict(ref, attention=broken_attention))},
                            Expectation(says="graded the code in unet/")),
        "two_attempts": ({**package("attempt1/", dict(ref, attention=broken_attention)), **package("attempt2/", ref)},
                         Expectation(full_marks=None, status="needs_review", says="several folders hold the assignment")),
        # names
        "case_names": ({**package("", {m: t for m, t in ref.items() if m != "unet"}), "UNet.py": ref["unet"],
                        "Res_Block.py": ref["res_block"]}, Expectation()),
        "download_suffixes": ({**package("", {m: t for m, t in ref.items() if m not in ("attention", "up_block")}),
                               "attention (1).py": ref["attention"], "up_block-2.py": ref["up_block"]}, Expectation()),
        "txt_module": ({**package("", {m: t for m, t in ref.items() if m != "res_block"}), "res_block.txt": ref["res_block"]},
                       Expectation()),
        "missing_file": (package("", {m: t for m, t in ref.items() if m != "up_block"}),
                         Expectation(full_marks=False, says="UpBlock is not defined", losing=("UpBlock", "Integration"))),
        # notebooks
        "writefile_notebook": ({"unet_chapter.ipynb": writefile}, Expectation()),
        "code_cell_notebook": ({"UNet_homework.ipynb": cells}, Expectation()),
        "empty_notebook": ({"homework.ipynb": notebook([])}, Expectation(full_marks=False, status="needs_review",
                                                                          says="no code could be taken from the notebook")),
        # encodings
        "bom_crlf": (crlf_bom, Expectation()),
        "utf16": (utf16, Expectation()),
        "cp1252_comment": (cp1252, Expectation(says="read as Windows-1252")),
        # third-party imports
        "numpy_matplotlib": ({f"{m}.py": PLOTS + t for m, t in ref.items()}, Expectation()),
        "einops": (package("", einops), Expectation()),
        # a notebook's live progress left in: IPython.display where a notebook student always has it
        "ipython_display": (package("", dict(ref, analysis="from IPython.display import clear_output\n" + ref["analysis"].replace(
            "                losses.append(loss.item())\n",
            "                losses.append(loss.item())\n                clear_output(wait=True)\n", 1))), Expectation()),
        "unavailable_import": (package("", dict(ref, unet="import wandb\n" + ref["unet"])),
                               Expectation(says="wandb is not available in the grading environment")),
        # nothing to grade
        "empty": ({}, Expectation(full_marks=False, status="needs_review", says="the submission is empty")),
        "no_code": ({"answers.txt": "I ran out of time\n", "notes.md": "# notes\n"},
                    Expectation(full_marks=False, status="needs_review", says="no file defines any")),
        # top-level code that never ends
        "endless_test_at_bottom": (package("", dict(ref, res_block=ref["res_block"] + HANG)),
                                   Expectation(says="res_block.py: its top-level code did not finish")),
        # an honest mistake, for contrast
        "softmax_mistake": (package("", dict(ref, attention=broken_attention)),
                            Expectation(full_marks=False, losing=("SelfAttention",))),
    }


ITSELF = ""  # a student whose whole hand-in is one file (an archive), named after them


def student_name(entry: str) -> str:
    """``Nadia Müller.tgz`` -> ``Nadia Müller``: whose entry it is."""
    return re.sub(r"\.(tgz|tar\.gz|tar|zip|rar|7z)$", "", entry)


def make_class(folder: Path, names=None) -> dict[str, Expectation]:
    """One entry per student under ``folder``: a folder (a zip stays a zip inside it), or the one
    archive they handed in; their expectations, by student name."""
    expectations = {}
    for entry, (files, expectation) in _students().items():
        if names is not None and entry not in names:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if ITSELF in files:
            (folder / entry).write_bytes(files[ITSELF])
        else:
            (folder / entry).mkdir(parents=True)
            write(folder / entry, files)
        expectations[student_name(entry)] = expectation
    return expectations


def _copy_entry(entry: Path, destination: Path) -> None:
    """A student's folder, or their one file placed in a folder of its own (as Gradescope and nbgrader keep it)."""
    if entry.is_dir():
        shutil.copytree(entry, destination)
    else:
        destination.mkdir(parents=True)
        shutil.copy(entry, destination / entry.name)


def as_gradescope_export(class_folder: Path, export: Path) -> Path:
    """Gradescope's "Export Submissions" layout: submission_<id>/ folders and submission_metadata.yml."""
    export.mkdir(parents=True)
    lines = []
    for number, entry in enumerate(sorted(p.name for p in class_folder.iterdir()), start=1001):
        _copy_entry(class_folder / entry, export / f"submission_{number}")
        student = student_name(entry)
        lines += [f"submission_{number}:", "  :submitters:", f"  - :name: {student}",
                  f"    :sid: '{student}'", f"    :email: {student.replace(' ', '.')}@example.edu"]
    (export / "submission_metadata.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return export


def as_nbgrader(class_folder: Path, course: Path, assignment: str = "unet") -> Path:
    """An nbgrader course's submitted/<student>/<assignment>/ folders."""
    for entry in sorted(p.name for p in class_folder.iterdir()):
        _copy_entry(class_folder / entry, course / "submitted" / student_name(entry) / assignment)
    return course
