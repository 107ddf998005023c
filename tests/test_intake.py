"""What the grader keeps of a module whose top-level code cannot run (a notebook's cells, a file with a
test at the bottom): the contract's definitions and exactly the module-level names they read."""
import ast
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.intake import python_source
from autograder.intake.python_source import definitions_only

NOTEBOOK_LIKE = '''\
import math
import torch
from torch import nn as tnn

STEPS = 50
SCALE = 2.0
results = None
model = None
device = "cuda" if torch.cuda.is_available() else "cpu"


def helper(x):
    return x * SCALE


def register(cls):
    return cls


@register
class Block(tnn.Module):
    width = int(math.sqrt(16))

    def forward(self, x):
        inner = [helper(v) for v in x]
        def nested():
            return torch.stack(inner).to(device)
        return nested()


def skip_ablation(steps=STEPS, seed=0):
    results = {}
    model = Block()
    for step in range(steps):
        results[step] = model(torch.zeros(2))
    return results


model = Block()
results = skip_ablation()
print(results)
for epoch in range(10**9):
    model(torch.zeros(2))
'''


def _kept(text: str, roots=None) -> list[str]:
    sliced = definitions_only(text, ast.parse(text), roots)
    assert len(sliced.split("\n")) == len(text.split("\n"))  # line numbers unchanged
    return [line for line in sliced.split("\n") if line.strip()]


def test_a_functions_own_locals_never_pull_in_top_level_code_of_the_same_name():
    kept = _kept(NOTEBOOK_LIKE)
    assert "results = skip_ablation()" not in kept  # `results` is skip_ablation's own local
    assert "model = Block()" not in kept  # so is `model`
    assert "results = None" not in kept and "model = None" not in kept
    assert not any(line.startswith(("print", "for epoch")) for line in kept)


@pytest.mark.parametrize("line", [
    "STEPS = 50",  # a default argument, read when the def runs
    "SCALE = 2.0",  # read by a helper the class calls from a comprehension
    "import math",  # a class attribute's value
    "from torch import nn as tnn",  # a base class
    'device = "cuda" if torch.cuda.is_available() else "cpu"',  # read by a nested function
    "def register(cls):",  # a decorator
    "def helper(x):",
])
def test_every_module_level_name_a_definition_reads_is_kept(line):
    assert line in _kept(NOTEBOOK_LIKE)


def test_only_the_requested_definitions_and_what_they_need():
    kept = _kept(NOTEBOOK_LIKE, {"Block"})
    assert "class Block(tnn.Module):" in kept and "def skip_ablation(steps=STEPS, seed=0):" not in kept
    assert "STEPS = 50" not in kept and "SCALE = 2.0" in kept


def test_a_name_a_function_declares_global_is_kept():
    text = "counter = 0\nnoise = print('side effect')\n\n\ndef step():\n    global counter\n    counter += 1\n"
    kept = _kept(text)
    assert "counter = 0" in kept and "noise = print('side effect')" not in kept


@pytest.mark.parametrize("nested", [False, True])
def test_each_statement_is_read_once_however_long_the_chain_of_names(monkeypatch, nested):
    """``a0 = a1``, ``a1 = a2``, ...: what a definition needs is found name by name, each statement's names
    read once (the fixpoint rescanned every statement per link: quadratic, 27 s of the grader's time at
    4,000 links, in intake, before any budget). Each link inside an ``if`` block too: a kept block keeps
    the blocks around it once, not once per statement inside."""
    from autograder.intake import python_source

    links = 300
    link = "if True:\n    a{i} = a{j}\n    print(a{i})\n" if nested else "a{i} = a{j}\n"
    source = "def skip_ablation():\n    return a0\n\n" + "".join(link.format(i=i, j=i + 1) for i in range(links)) + f"a{links} = 1\n"
    tree = ast.parse(source)
    statements = sum(1 for node in ast.walk(tree) if isinstance(node, ast.stmt))
    touched, read = [], []
    for name, calls in (("touched_names", touched), ("module_names_read", read)):
        original = getattr(python_source, name)
        monkeypatch.setattr(python_source, name, lambda node, original=original, calls=calls: calls.append(node) or original(node))
    kept = python_source.kept_statements(tree, {"skip_ablation"})
    assert len(kept) == links + 2  # the function and every link
    assert len(touched) <= statements and len(read) <= statements


def _run(source: str, roots=None) -> dict:
    """What the definitions-only text of ``source`` binds when run, checked against the kept statements
    run as ``ast.unparse`` writes them (the reference's stand-ins are made that way): both must agree."""
    tree = ast.parse(source)
    namespace = {"boom": _boom}
    exec(compile(definitions_only(source, tree, roots), "<sliced>", "exec"), namespace)
    rebuilt = {"boom": _boom}
    exec(compile("\n".join(ast.unparse(n) for n in python_source.kept_statements(tree, roots)), "<kept>", "exec"), rebuilt)
    assert sorted(rebuilt) == sorted(namespace)
    return namespace


def _boom(*args):
    raise AssertionError("top-level work that no definition needs ran")


CLASS = "import math\n\n\nclass ResBlock:\n    def __init__(self):\n        self.width = 4\n\n\n"
FORWARD = "def forward(self, x):\n    return x * self.width + math.floor(0.5)\n"


@pytest.mark.parametrize("attached", [
    # d2l.ai's idiom, its decorator in the notebook
    "def add_to_class(Class):\n    def wrapper(obj):\n        setattr(Class, obj.__name__, obj)\n    return wrapper\n\n\n"
    "@add_to_class(ResBlock)\n" + FORWARD,
    # the same decorator imported from another module (d2l's own), handed the class as a keyword
    "import types\nhelpers = types.SimpleNamespace(attach=lambda cls: lambda f: setattr(cls, f.__name__, f))\n\n\n"
    "@helpers.attach(cls=ResBlock)\n" + FORWARD,
    FORWARD + "setattr(ResBlock, 'forward', forward)\n",
    FORWARD + "\n\nResBlock.forward = forward\n",
    FORWARD + "\n\nfor name, method in [('forward', forward)]:\n    setattr(ResBlock, name, method)\n    boom()\n",
], ids=["add_to_class", "decorator_from_a_module", "setattr", "assigned", "setattr_in_a_loop"])
def test_a_method_attached_to_a_class_after_it_is_kept_with_the_class(attached):
    """Jupyter and Python run a notebook's later cell that gives a class its forward: so does the grader
    (d2l.ai's ``@add_to_class`` dropped cost a correct ResBlock 16 points)."""
    namespace = _run(CLASS + attached + "\n\nmodel = ResBlock()\nboom(model.forward(3))\n", {"ResBlock"})
    assert namespace["ResBlock"]().forward(3) == 12
    assert "model" not in namespace


def test_a_class_attribute_set_or_deleted_later_is_kept_and_a_call_on_a_needed_module_is_not():
    source = (CLASS + "ResBlock.groups = 8\nResBlock.cache = {}\nResBlock.cache['x'] = 1\nResBlock.tmp = 1\n"
              "del ResBlock.tmp\nimport os\nos.remove(boom())\nimport types\nSETTINGS = types.SimpleNamespace()\n"
              "ResBlock.default = lambda self: SETTINGS.width\nSETTINGS.width = 5\nos.boom = boom\n"
              "def unrelated():\n    return 1\n\n\nunrelated.flag = boom()\n")
    namespace = _run(source, {"ResBlock"})
    block = namespace["ResBlock"]
    assert (block.groups, block.cache, hasattr(block, "tmp")) == (8, {"x": 1}, False)
    assert "unrelated" not in namespace and "os" not in namespace  # os: only its calls and changes read it
    assert block().default() == 5  # an object the class reads, changed after it: as Python runs it


DEVICE_USER = "\n\ndef skip_ablation():\n    return device, rearrange, WIDTH, TABLE\n"


@pytest.mark.parametrize("block,device", [
    ("if len('ab') > 5:\n    device = 'cuda'\n    print('Using GPU')\nelse:\n    device = 'cpu'\n    print('Using CPU')\n", "cpu"),
    ("if False: device = 'cuda'; boom()\nelse: device = 'cpu'; print('cpu'); boom()\n", "cpu"),  # blocks on one line
    ("try:\n    import nothing_by_this_name\n    device = 'cuda'\nexcept ImportError as error:\n    print(error)\n"
     "    device = 'cpu'\nfinally:\n    boom()\n", "cpu"),
    ("device = None\nwhile device is None:\n    print('trying')\n    device = 'cpu'\n", "cpu"),
    ("n = 0\nwhile True:\n    n += 1\n    boom() if n > 9 else None\n    if n == 3:\n        break\ndevice = f'cuda:{n}'\n", "cuda:3"),
    ("import contextlib\nwith contextlib.nullcontext() as context:\n    device = 'mps'\n    print(context)\n", "mps"),
], ids=["if_else_print", "one_line_blocks", "try_except_finally", "while", "while_true_break", "with"])
def test_a_block_that_binds_a_name_a_definition_reads_is_kept_without_its_other_work(block, device, capsys):
    """An ``if`` choosing a device beside a ``print``, a ``try`` whose ``except`` prints, a ``while``, a
    ``with``: each was dropped whole for one call in it (SkipAblation -6). Kept, its calls left out."""
    source = ("from math import floor as rearrange\nWIDTH = 8\nTABLE = {}\nfor name in ('a', 'bb'):\n"
              "    TABLE[name] = len(name)\n    boom()\n" + block + DEVICE_USER
              + "\n\nfor step in range(10**9):\n    loss = boom()\nwith open(boom(), 'w') as f:\n    f.write(device)\n")
    namespace = _run(source, {"skip_ablation"})
    assert namespace["skip_ablation"]()[::2] == (device, 8) and namespace["TABLE"] == {"a": 1, "bb": 2}
    assert "loss" not in namespace and "f" not in namespace  # the training loop, the file written
    assert capsys.readouterr().out == ""


def test_a_failing_import_in_a_kept_try_still_raises_as_written():
    source = "try:\n    from nothing_by_this_name import rearrange\nexcept ImportError:\n    print('pip install einops')\n    raise\n" + DEVICE_USER
    with pytest.raises(ImportError):
        _run(source, {"skip_ablation"})


def test_statements_sharing_a_line_are_kept_or_left_out_one_by_one():
    """One line holding many statements (``import math; x; x; ...``): each is judged on its own, the
    needed kept in place, the rest made ``pass`` -- the same text whatever their number."""
    import math

    for count in (1, 3, 500):
        text = "import math; " + "print(1); " * count + "RATE = math.pi\ndef f():\n    return RATE\n"
        sliced = definitions_only(text, ast.parse(text), {"f"})
        first = sliced.split("\n")[0]
        assert first == "import math; " + "pass; " * count + "RATE = math.pi", first[:200]
        namespace = {}
        exec(compile(sliced, "s.py", "exec"), namespace)
        assert namespace["f"]() == math.pi


def test_a_hand_ins_python_is_read_up_to_its_budget_and_a_file_past_it_is_named(tmp_path, monkeypatch):
    """A file of 262,000 ``x;`` costs seconds of every pass over it, and 50 MiB of such files minutes:
    a hand-in's Python is read up to CODE_STATEMENTS lines and semicolons; a file past what is left is
    left unread, with why, and the files after it are still read."""
    from autograder.intake import read_submission

    from .classroom import package, reference, write

    monkeypatch.setattr(python_source, "CODE_STATEMENTS", 5_000)
    files = {**package("unet/", reference()), "unet/aaa_notes.py": "x;" * 6_000 + "\n"}
    submission = read_submission(write(tmp_path / "hand-in", files))
    assert "lines in all" in submission.unreadable["unet/aaa_notes.py"], submission.unreadable
    assert len(submission.unreadable) == 1 and "ResBlock" in submission.symbols


def test_a_chain_of_a_thousand_elifs_is_read_as_python_reads_it():
    """Python imports a 995-branch if/elif chain; every reading of it here walks statements without
    recursing (it was "could not be read (RecursionError)": ResBlock 0/18 and Integration 0/6)."""
    chain = "MODE = 3\nif MODE == 0:\n    K = 0\n" + "".join(f"elif MODE == {i}:\n    K = {i}\n" for i in range(1, 995))
    text = chain + "def f():\n    return K\n"
    found = python_source.index(text, "chain.py")
    assert {"MODE", "K", "f"} <= found.defines
    namespace = {}
    exec(compile(definitions_only(text, found.tree, {"f"}), "chain.py", "exec"), namespace)
    assert namespace["f"]() == 3


# A `# %%` script (VS Code's cells) with one unclosed bracket in one class, and a decorated function
# missing its colon: the rest of the file must read as if those two statements were absent.
BROKEN_TWICE = '''\
import math

# %%
def num_groups(channels):
    return math.gcd(8, channels)

# %%
class ResBlock:
    def forward(self, h, t):
        h = h + t[:, :, None, None
        return h

GROUPS = num_groups(32)

@staticmethod
def broken(x)
    return x

class Other:
    """A docstring
with a line at column 0."""
'''


def test_a_file_that_does_not_parse_is_read_without_its_broken_statements():
    """A syntax error costs the definitions it breaks, not the rest of the file (red team: one
    unclosed bracket in a one-file hand-in graded 0/130): each broken top-level statement, decorators
    included, is blanked with its line numbers kept, named with Python's own message and what it defined."""
    with python_source.intake_budget():
        text, found, notes = python_source.recovered(BROKEN_TWICE, "hw3.py")
    assert len(text.split("\n")) == len(BROKEN_TWICE.split("\n"))
    assert found.tree is not None and {"num_groups", "GROUPS", "Other"} <= found.defines
    assert found.broken == {"ResBlock": "hw3.py, line 10: '[' was never closed", "broken": "hw3.py, line 16: expected ':'"}
    assert found.syntax_error == found.broken["ResBlock"] and "[:, :, None, None" in found.error_line
    assert {"ResBlock", "broken"} <= found.complete  # charged with their error, never "missing"
    kept = text.split("\n")
    assert kept[3] == "def num_groups(channels):" and kept[12] == "GROUPS = num_groups(32)"
    assert not "".join(kept[7:11]).strip() and not "".join(kept[14:17]).strip()  # the class; the decorator too
    assert notes == ["hw3.py, line 10: '[' was never closed (SyntaxError): lines 8-11 (ResBlock) left out; "
                     "the rest is graded without them",
                     "hw3.py, line 16: expected ':' (SyntaxError): lines 15-17 (broken) left out; "
                     "the rest is graded without them"]
    assert python_source.recovered(NOTEBOOK_LIKE, "x.py")[0] == NOTEBOOK_LIKE  # a file that parses: as it is
    # Python names the line after a body-less class: the class is cut, not the innocent statement named
    text, found, notes = python_source.recovered("import math\n\nclass A:\n\nY = 3\n", "x.py")
    assert text == "import math\n\n\n\nY = 3\n" and set(found.broken) == {"A"}


def test_cutting_a_broken_file_reads_it_a_bounded_number_of_times(monkeypatch):
    """Linear: one error in 3,000 statements costs a few reads of the file, not one per statement; past
    ``MAX_CUTS`` errors the file stays one syntax error (the whole file, as before)."""
    parsed = []
    parse = ast.parse
    monkeypatch.setattr(python_source.ast, "parse", lambda text, *a, **k: parsed.append(len(text)) or parse(text, *a, **k))
    lines = [f"def f{i}(x):\n    return x + {i}\n" for i in range(3000)]
    lines[1500] = "def f1500(x):\n    return (x\n"
    text = "".join(lines)
    with python_source.intake_budget():
        kept, found, notes = python_source.recovered(text, "long.py")
    assert found.broken == {"f1500": "long.py, line 3002: '(' was never closed"} and len(notes) == 1
    assert sum(parsed) <= 5 * len(text), sum(parsed) / len(text)
    many = "".join(f"def g{i}(:\n    pass\n" for i in range(python_source.MAX_CUTS + 1))
    with python_source.intake_budget():
        kept, found, notes = python_source.recovered(many, "many.py")
    assert kept == many and found.tree is None and not notes and len(found.broken) == python_source.MAX_CUTS + 1


# The patterns as they were: the same answers, but quadratic in a student's run of spaces (a 200 KB line
# of one helper file cost 75 s of the trusted process before any time budget; 10 minutes at the file cap)
_PEP_695_BEFORE = r"\s*(type\s+[A-Za-z_]\w*\s*(\[[^\]]*\])?\s*=|(class|def)\s+[A-Za-z_]\w*\s*\[)"
_DOWNLOAD_SUFFIX_BEFORE = r"(\s*\(\d+\)|\s*-\s*copy(\s*\d+)?|\s+copy(\s*\d+)?|-\d+)$"
_PIECES = [" ", "  ", "\t", "type", "class", "def", "a", "T", "[", "]", "[T]", "=", "(", ")", "(1)", "-", "copy",
           "Copy", "2", "x"]


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_the_intake_patterns_read_student_text_as_before_in_linear_time(parts):
    """What PEP 695's syntax and a download's " (1)" / " - Copy" suffix are read as, on text a student
    controls (a syntax error's line, a file's name): the same as the patterns before, which tried every
    split of a run of spaces."""
    from autograder.intake import layout

    text = "".join(parts)
    before = re.match(_PEP_695_BEFORE, text)
    assert layout._uses_pep_695(text) == bool(before)
    assert layout._DOWNLOAD_SUFFIX.sub("", text) == re.sub(_DOWNLOAD_SUFFIX_BEFORE, "", text, flags=re.IGNORECASE)


def test_a_run_of_spaces_is_read_once():
    """The red team's inputs, at sizes where the patterns before took tens of seconds: read as they should be."""
    from autograder.intake import layout

    spaces = " " * 200_000
    assert not layout._uses_pep_695(spaces + "type a" + spaces + "x")
    assert layout._uses_pep_695(spaces + "type Shape" + spaces + "= int")
    assert layout._DOWNLOAD_SUFFIX.sub("", "a" + spaces + "00001") == "a" + spaces + "00001"
    assert layout._DOWNLOAD_SUFFIX.sub("", "attention" + spaces + "(1)") == "attention"


def _tar_of(entries, compress=None) -> bytes:
    """A tar of ``entries`` (TarInfo, bytes) pairs, gzipped or xz-compressed (``compress``: lzma filters)."""
    import io
    import lzma
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for info, data in entries:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    if compress is None:
        import gzip
        return gzip.compress(raw.getvalue())
    return lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=compress)


def _code_entries():
    import tarfile

    from .classroom import package, reference

    return [(tarfile.TarInfo(name), text.encode()) for name, text in package("unet/", reference()).items()]


def test_a_pax_header_with_a_number_longer_than_any_real_one_refuses_the_tar_before_tarfile_searches_it(tmp_path):
    """tarfile (Python before 3.11.10) searches a pax header in time the square of its runs of digits:
    100,000 digits in a 10 KB .tgz cost 26 s of the trusted process, 200,000 two minutes (red team). A long
    name in a pax header is read (and left out later: test_handins)."""
    import tarfile

    from autograder.intake import files

    pax = tarfile.TarInfo("PaxHeader/x")
    pax.type = tarfile.XHDTYPE
    path = tmp_path / "hand-in.tgz"
    path.write_bytes(_tar_of([(pax, b"1" * (files.MAX_PAX_DIGITS + 1)), *_code_entries()]))
    with pytest.raises(files.Refused, match="pax.*digits"):
        files.collect(path)
    ordinary = tarfile.TarInfo("PaxHeader/y")
    ordinary.type = tarfile.XHDTYPE
    record = "path=unet/" + "a" * 200 + ".py\n"
    record = f"{len(record) + 4} {record}"  # a real record: its length counts itself (three digits and a space)
    path.write_bytes(_tar_of([(ordinary, record.encode()), *_code_entries()]))
    assert any(f.label.endswith(".py") for f in files.collect(path).files)


def test_every_header_of_a_tar_counts_against_the_file_limit_folders_too(tmp_path):
    """200,000 folder entries in a 1 MB .tgz cost 5 s and 115 MB while tarfile listed them (1 GiB unpacked:
    ten times that): each header counts, and the tar is refused past ``max_files``."""
    import tarfile

    from autograder.intake import files

    folders = []
    for index in range(files.Limits.max_files + 1):
        info = tarfile.TarInfo(f"d{index}")
        info.type = tarfile.DIRTYPE
        folders.append((info, b""))
    path = tmp_path / "hand-in.tgz"
    path.write_bytes(_tar_of([*folders, *_code_entries()]))
    with pytest.raises(files.Refused, match="more than"):
        files.collect(path)


def test_an_xz_stream_that_asks_for_more_memory_than_xz_9_is_refused_not_served(tmp_path):
    """A 147 KB .tar.xz whose block header asks for a 1 GiB dictionary held ~900 MiB of the trusted process
    (``lzma.LZMAFile`` has no memory limit); xz -9's own (64 MiB) is read."""
    import lzma
    import struct
    import zlib

    from autograder.intake import files

    nine = tmp_path / "nine.tar.xz"
    nine.write_bytes(_tar_of(_code_entries(), [{"id": lzma.FILTER_LZMA2, "preset": 9}]))
    assert any(f.label.endswith("res_block.py") for f in files.collect(nine).files)

    data = bytearray(_tar_of(_code_entries(), [{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 20}]))
    header = 12  # the block header, after the stream header: its size, flags, then LZMA2's id, 1, the dictionary byte
    size = (data[header] + 1) * 4
    assert data[header + 2:header + 4] == b"\x21\x01"
    data[header + 4] = 36  # 2 ** (36 / 2 + 12) bytes: 1 GiB
    data[header + size - 4:header + size] = struct.pack("<I", zlib.crc32(bytes(data[header:header + size - 4])))
    asking = tmp_path / "asking.tar.xz"
    asking.write_bytes(bytes(data))
    with pytest.raises(files.Refused, match="not a readable xz file .Memory usage limit"):
        files.collect(asking)


def test_a_sparse_member_refuses_the_tar_before_tarfile_reads_its_map(tmp_path):
    """tarfile reads a GNU sparse 1.0 map as one Python int per line of the member's data: a 100 KB .tgz of
    "0\\n" lines cost 60 s and 0.7 GB of the trusted process (red team). No code file is sparse."""
    import io
    import tarfile

    from autograder.intake import files

    sparse = tarfile.TarInfo("GNUSparseFile.0/unet.py")
    sparse.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "unet/unet.py",
                          "GNU.sparse.realsize": "10"}
    data = b"999999999\n" + b"0\n" * 50_000
    sparse.size = len(data)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(sparse, io.BytesIO(data))
    path = tmp_path / "hand-in.tgz"
    path.write_bytes(raw.getvalue())
    with pytest.raises(files.Refused, match="sparse"):
        files.collect(path)


def test_a_notebook_of_format_3_is_read_for_its_sources_alone():
    """Its cells' kinds and sources are what intake reads: a heading's level is not written out as that many
    '#' (nbformat's converter did: 600 MB for a 514-byte file), nor are outputs copied (red team)."""
    import json

    from autograder.intake import notebooks

    heading = {"cell_type": "heading", "level": 10 ** 9, "source": "Title", "metadata": {}}
    code = {"cell_type": "code", "input": ["def f():\n", "    return 1\n"], "prompt_number": 3, "language": "python",
            "outputs": [{"output_type": "stream", "stream": "stdout", "text": ""}] * 1000, "metadata": {}}
    notebook = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [heading, code]}]}
    upgraded, problem = notebooks._upgraded(notebook, "hw.ipynb")
    assert problem is None and len(json.dumps(upgraded)) < 1_000, upgraded
    found = notebooks.extract(json.dumps(notebook), "hw.ipynb")
    assert "def f():" in found.module_text and found.problem is None
