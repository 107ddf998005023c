"""Entry point of the fork server: ``python -I .../child/__main__.py --zygote FD [OPTIONS]``.

``-I`` keeps the user's environment and the script's folder off ``sys.path``. The package is
imported from this folder under a private name (``_autograder_child``), so a student's module
called ``child.py`` can neither shadow it nor be shadowed by it.
"""
import importlib.util
import json
import os
import sys

PACKAGE = "_autograder_child"


def _import_package():
    folder = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(PACKAGE, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{PACKAGE}.zygote")


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--zygote":
        control, options = int(sys.argv[2]), json.loads(sys.argv[3]) if len(sys.argv) == 4 else {}
        # What student code sees, as in an interpreter: not the grader's options (paths and settings),
        # which a top-level ``argparse`` would also refuse as unrecognised arguments.
        sys.argv = [""]
        _import_package().zygote(control, options)
    else:
        sys.exit("usage: __main__.py --zygote FD [OPTIONS] (started by the grader, not by hand)")
