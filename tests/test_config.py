"""grading_config.yaml is validated on load: one clear error naming the key, never a traceback."""
import pytest
import yaml

from autograder.checks import bind
from autograder.config import load_config
from autograder.errors import ConfigError

from .conftest import ROOT


def write(tmp_path, mutate):
    data = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    mutate(data)
    path = tmp_path / "grading_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_config_binds_every_registered_check(config):
    bound = bind(config)
    assert len(bound) == sum(len(checks) for checks in config.components.values())
    assert sum(settings.points for _, settings in bound) == 130  # the blocks' 100, the homework tasks' 30


def test_bad_value_names_the_key(tmp_path):
    path = write(tmp_path, lambda d: d["limits"].update(call_timeout_s=-1))
    with pytest.raises(ConfigError, match=r"limits\.call_timeout_s"):
        load_config(path)


def test_unknown_key_suggests_the_right_one(tmp_path):
    path = write(tmp_path, lambda d: d["limits"].update(memory_mbs=100))
    with pytest.raises(ConfigError, match=r"limits\.memory_mbs: unknown key; did you mean 'memory_mb'"):
        load_config(path)


def test_unknown_check_suggests_the_right_one(tmp_path):
    def typo(d):
        d["components"]["ResBlock"]["residual_identiy"] = d["components"]["ResBlock"].pop("residual_identity")

    with pytest.raises(ConfigError, match=r"ResBlock\.residual_identiy: unknown check; did you mean 'residual_identity'"):
        bind(load_config(write(tmp_path, typo)))


def test_bad_visibility_is_rejected(tmp_path):
    path = write(tmp_path, lambda d: d["components"]["ResBlock"]["structure"].update(visibility="secret"))
    with pytest.raises(ConfigError, match=r"components\.ResBlock\.structure\.visibility"):
        load_config(path)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "missing.yaml")
