"""grading_config.yaml is validated on load: one clear error naming the key, never a traceback."""
import pytest
import yaml

from autograder.checks import REGISTRY, bind
from autograder.checks.public_checks import require_gate_cases
from autograder.checks.registry import Check
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
    assert config.total_points == 130  # the one place the shipped total is pinned; other tests read it


def test_a_gated_component_without_gate_cases_is_refused_with_what_to_do():
    """A new block whose checks are gated but that has no gate cases fails at import with the fix, not as a
    KeyError in the middle of its first grading; the shipped registry passes."""
    require_gate_cases(REGISTRY)
    newcomer = Check("Upsample", "forward_matches", "matches the reference", run=lambda ctx, case: None)
    with pytest.raises(RuntimeError, match="Upsample: gated checks but no gate cases.*GATE_STRATEGIES"):
        require_gate_cases(REGISTRY + [newcomer])
    require_gate_cases(REGISTRY + [Check("Upsample", "structure", "structure", run=lambda ctx, case: None,
                                         gated=False)])


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


def test_unknown_key_inside_a_check_suggests_the_right_one(tmp_path):
    path = write(tmp_path, lambda d: d["components"]["ResBlock"]["structure"].update(pionts=1))
    with pytest.raises(ConfigError, match=r"components\.ResBlock\.structure\.pionts: unknown key; did you mean 'points'"):
        load_config(path)


def test_misspelled_component_suggests_the_right_one(tmp_path):
    path = write(tmp_path, lambda d: d["components"].update(ResBlok=d["components"].pop("ResBlock")))
    with pytest.raises(ConfigError, match=r"ResBlok: unknown component; did you mean 'ResBlock'"):
        load_config(path)


def test_misspelled_hypothesis_key_suggests_the_right_one(tmp_path):
    path = write(tmp_path, lambda d: d["hypothesis"].update(profil="ci"))
    with pytest.raises(ConfigError, match=r"hypothesis\.profil: unknown key; did you mean 'profile'"):
        load_config(path)


@pytest.mark.parametrize("limits, reason", [
    ({"call_timeout_s": 60, "component_timeout_s": 30, "experiment_timeout_s": 30}, "shorter than call_timeout_s"),
    ({"experiment_timeout_s": 200, "component_timeout_s": 100}, "shorter than experiment_timeout_s"),
    ({"max_reply_mb": 64, "max_memo_mb": 32}, "max_memo_mb \\(32\\) is smaller than max_reply_mb \\(64\\)"),
])
def test_impossible_limits_are_refused_with_the_reason(tmp_path, limits, reason):
    path = write(tmp_path, lambda d: d["limits"].update(limits))
    with pytest.raises(ConfigError, match=rf"limits: .*{reason}"):
        load_config(path)


def test_negative_points_are_refused(tmp_path):
    path = write(tmp_path, lambda d: d["components"]["ResBlock"]["structure"].update(points=-1))
    with pytest.raises(ConfigError, match=r"components\.ResBlock\.structure\.points"):
        load_config(path)


def test_profiles_set_the_examples_and_ci_keeps_the_configured_ones(config):
    settings_ = config.components["ResBlock"]["structure"]
    configured = settings_.max_examples or config.hypothesis.max_examples
    assert config.hypothesis.profile == "ci" and config.max_examples(settings_) == configured
    assert config.with_profile("quick").max_examples(settings_) == min(configured, 2)
    assert config.with_profile("thorough").max_examples(settings_) == 5 * configured
    assert config.with_profile(None) is config
    with pytest.raises(ConfigError, match="did you mean 'quick'"):
        config.with_profile("quik")


def test_one_settings_builder_for_every_profile():
    from hypothesis import Phase

    from autograder.strategies import PROFILES, hypothesis_settings

    for profile in PROFILES:
        built = hypothesis_settings(7, profile=profile)
        assert built.max_examples == 7 and built.database is None and built.deadline is None
    assert Phase.shrink in hypothesis_settings(3).phases
    assert Phase.shrink not in hypothesis_settings(3, shrink=False).phases
    assert Phase.shrink not in hypothesis_settings(3, profile="quick").phases
