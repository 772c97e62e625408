"""Settings of a run: the study's defaults, then the manifest, a --config file and the command line."""

import pytest

from scorelens.config import StudyConfig, parse_assignments
from scorelens.exceptions import ParameterError
from scorelens.stages._run import resolve_settings


def test_defaults_are_the_studys():
    config = StudyConfig()
    assert (config.model.hidden, config.model.epochs, config.model.learning_rate, config.model.batch_size) == \
        (128, 200, 5e-5, 16)
    assert (config.stamp.window_s, config.importance.hidden, config.importance.runs, config.crossmodal.alpha) == \
        (5.0, 64, 100, 0.01)
    assert config.run.kinds == ("mir", "musicnn")


def test_layers_in_rising_priority(tmp_path):
    manifest = tmp_path / "corpus.toml"
    manifest.write_text('[corpus]\nname = "x"\n\n[settings.model]\nepochs = 50\nhidden = 64\n\n'
                        '[settings.mir]\ntexture_window_s = 4.0\n')
    config_file = tmp_path / "settings.toml"
    config_file.write_text('[model]\nhidden = 32\n[run]\nkinds = ["mir"]\n')
    config = resolve_settings(manifest, config_file, parse_assignments(["model.seed=7", "run.kinds=mir,musicnn"]))
    assert config.model.epochs == 50                    # manifest
    assert config.mir.texture_window_s == 4.0           # manifest
    assert config.model.hidden == 32                    # --config beats the manifest
    assert config.run.kinds == ("mir", "musicnn")       # command line beats --config
    assert config.model.seed == 7
    assert config.stamp.window_s == 5.0                 # untouched: the study's


def test_a_misspelt_setting_is_named(tmp_path):
    with pytest.raises(ParameterError, match=r"unknown setting model\.epoch \(known: seed"):
        StudyConfig().merged({"model.epoch": 3})
    with pytest.raises(ParameterError, match="unknown settings section 'modle'"):
        StudyConfig().merged({"modle": {"epochs": 3}})
    with pytest.raises(ParameterError, match=r"command line: \[model\] epochs=0 must be a positive integer"):
        StudyConfig().merged({"model.epochs": "0"}, source="command line")
    with pytest.raises(ParameterError, match="unknown stage"):
        StudyConfig().merged({"run.stages": ["stamp", "dance"]})
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ParameterError, match="bad.toml: not valid TOML"):
        resolve_settings(config_file=bad)


def test_values_from_the_command_line_take_the_settings_type():
    config = StudyConfig().merged(parse_assignments(["model.learning_rate=1e-4", "run.keep_going=true",
                                                     "figures.formats=png,pdf", "model.epochs=20"]))
    assert config.model.learning_rate == pytest.approx(1e-4) and config.run.keep_going is True
    assert config.figures.formats == ("png", "pdf") and config.model.epochs == 20


def test_the_embedding_kinds_run_on_the_studys_device(monkeypatch):
    import torch

    from scorelens.config import StudyConfig
    from scorelens.exceptions import ParameterError
    from scorelens.stages._features import kind_options

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert kind_options(StudyConfig(), "musicnn")["device"] == "cpu"          # auto, without a GPU
    assert "device" not in kind_options(StudyConfig(), "mir")
    with pytest.raises(ParameterError, match="model.device"):
        kind_options(StudyConfig().merged({"model.device": "cuda"}), "vggish")


def test_a_mir_preset_is_a_setting_like_the_others():
    from scorelens.config import MIRConfig, StudyConfig
    from scorelens.exceptions import ParameterError

    config = StudyConfig().merged({"mir.preset": "mirtoolbox", "mir.n_mfcc": 20}, source="--set")
    assert config.mir == MIRConfig.preset("mirtoolbox", n_mfcc=20) and config.mir != MIRConfig()
    with pytest.raises(ParameterError, match=r"--set: \[mir\] unknown MIR preset 'nope'"):
        StudyConfig().merged({"mir.preset": "nope"}, source="--set")
