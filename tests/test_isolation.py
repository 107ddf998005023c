"""How the fork server is walled off: argv details that decide whether bubblewrap works at all."""
from autograder.sandbox.isolation import Isolation


def test_a_virtualenv_under_tmp_is_bound_onto_the_private_tmp():
    """CI may clone into /tmp: binding the venv first and mounting the tmpfs over it hid Python."""
    isolation = Isolation("bwrap", 65001, 65001, True)
    argv = isolation.command("/tmp/checkout/.venv/bin/python", 3, "{}")
    tmpfs = argv.index("/tmp", argv.index("--tmpfs"))
    venv = max(i for i, arg in enumerate(argv) if arg == "/tmp/checkout/.venv")
    assert argv[venv - 2] == "--ro-bind" and tmpfs < venv


def test_bound_folders_are_never_wiped_between_children():
    options = Isolation("bwrap", 65001, 65001, True).zygote_options("/tmp/checkout/.venv/bin/python")
    assert "/tmp" in options["wipe"]
    assert "/tmp/checkout/.venv" in options["keep"]
