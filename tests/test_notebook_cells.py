"""The guarded ``%%writefile`` of the student notebook, without a kernel: a module cell never
overwrites a file whose text differs from what a module cell (or the release) last wrote there,
unless the student adds ``--force``."""
from pathlib import Path

import pytest

from autograder.release.notebook_cells import guard_module_cells, stub_digest

STUB = "def f():\n    raise NotImplementedError()\n"
PATH = "unet/m.py"


class Shell:
    """The two IPython calls the guard makes; the original magic writes as IPython's does."""

    def __init__(self):
        self.magics = {"writefile": self._original}

    @staticmethod
    def _original(line, cell):
        assert "--force" not in line, "the flag is the guard's, not IPython's"
        Path(line.split()[-1]).write_text(cell)

    def find_cell_magic(self, name):
        return self.magics[name]

    def register_magic_function(self, function, kind, name):
        assert kind == "cell"
        self.magics[name] = function

    def run(self, cell, line=PATH):
        self.magics["writefile"](line, cell)


@pytest.fixture
def shell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "unet").mkdir()
    Path(PATH).write_text(STUB)
    shell = Shell()
    guard_module_cells({PATH: stub_digest(STUB)}, shell=shell)
    return shell


def test_cells_write_over_the_stub_and_over_their_own_text(shell):
    shell.run("v1 = 1\n")
    assert Path(PATH).read_text() == "v1 = 1\n"
    shell.run("v2 = 2\n")  # the student changed the cell again: the file held only the cell's last text
    assert Path(PATH).read_text() == "v2 = 2\n"


def test_an_edit_in_an_editor_survives_run_all(shell, capsys):
    """The student trial's workflow: cells run, then the file edited, then Run All."""
    shell.run("v1 = 1\n")
    Path(PATH).write_text("edited = True\n")
    shell.run("v1 = 1\n")  # Run All: the cell as it was
    assert Path(PATH).read_text() == "edited = True\n"
    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and "NOT overwritten" in said[0] and f"%%writefile --force {PATH}" in said[0]
    shell.run(STUB)  # nor does the cell put back to the stub
    assert Path(PATH).read_text() == "edited = True\n"


def test_a_restarted_kernel_still_knows_what_the_cell_wrote(shell):
    shell.run("v1 = 1\n")
    again = Shell()  # a new kernel: only the record beside the notebook remembers
    guard_module_cells({PATH: stub_digest(STUB)}, shell=again)
    again.run("v2 = 2\n")
    assert Path(PATH).read_text() == "v2 = 2\n"
    Path(PATH).write_text("edited = True\n")
    again.run("v2 = 2\n")
    assert Path(PATH).read_text() == "edited = True\n"


def test_force_replaces_the_file_when_the_student_says_so(shell):
    Path(PATH).write_text("edited = True\n")
    shell.run("mine = 1\n")
    assert Path(PATH).read_text() == "edited = True\n"
    shell.run("mine = 1\n", line=f"--force {PATH}")
    assert Path(PATH).read_text() == "mine = 1\n"


def test_other_files_are_not_guarded(shell):
    Path("notes.py").write_text("mine\n")
    shell.run("theirs\n", line="notes.py")
    assert Path("notes.py").read_text() == "theirs\n"


def test_copying_the_file_into_the_cell_puts_the_cell_in_charge_again(shell):
    """What the refusal tells the student to do works: once the cell holds the file's code it writes (the same
    text), and from then on the file is what a cell last wrote, so a changed cell writes again."""
    shell.run("v1 = 1\n")
    Path(PATH).write_text("edited = True\n")
    shell.run("edited = True\n")  # the file copied into the cell
    shell.run("edited = True\nlater = 2\n")
    assert Path(PATH).read_text() == "edited = True\nlater = 2\n"
