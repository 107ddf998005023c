"""check.py finds and loads a student's modules exactly as the grader does: any import style, one big
file, a notebook, Windows encodings (the same intake and importer, shipped in check_support/)."""
import subprocess
import sys

import pytest

from autograder.release import release_student
from autograder.contract import GRADED

from .classroom import make_class
from .release_support import fast_config

CORRECT = ["bare", "package_root", "one_solution_py", "own_file_names", "zip_in_zip", "writefile_notebook",
           "code_cell_notebook", "bom_crlf", "download_suffixes", "release_handed_back", "star_package", "dot_star_package", "ipython_display",
           "tar_in_tar"]


@pytest.fixture(scope="module")
def release_and_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("check-intake")
    release_student(base / "release", config=fast_config(base))
    make_class(base / "class", CORRECT + ["missing_file", "unavailable_import"])
    return base / "release", base / "class"


def _check(release, folder) -> subprocess.CompletedProcess:
    # with the autograder package out of reach, as on a student's machine
    runner = ("import runpy, sys; sys.modules['autograder'] = None; sys.argv = ['check.py'] + sys.argv[1:]; "
              "runpy.run_path('check.py', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", runner, str(folder)], cwd=release, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("student", CORRECT)
def test_correct_code_in_any_form_passes_check_py(release_and_class, student):
    release, classroom = release_and_class
    result = _check(release, classroom / student)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{len(GRADED)}/{len(GRADED)} components pass their public checks" in result.stdout


def test_check_py_says_what_the_grader_says_about_a_missing_file_and_an_import(release_and_class):
    release, classroom = release_and_class
    missing = _check(release, classroom / "missing_file")
    assert missing.returncode == 1
    assert "UpBlock is not defined in your submission (expected in up_block.py); files found:" in missing.stdout
    unavailable = _check(release, classroom / "unavailable_import")
    assert "wandb is not available in the grading environment: use torch" in unavailable.stdout
