"""The demo's dialogue: espeak-ng speech, or a loud fallback to formant babble."""

import logging
import shutil
import tomllib
import warnings

import numpy as np
import pytest

from scorelens.demo import _synth as synth
from scorelens.demo._films import make_corpus
from scorelens.exceptions import ParameterError

SR = 16000


@pytest.fixture
def no_espeak(tmp_path, monkeypatch):
    """A PATH on which espeak-ng cannot be found (as on a machine without it)."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_without_espeak_ng_the_babble_is_announced_as_a_warning_and_a_log_record(no_espeak, caplog):
    assert synth.speech_source() == synth.BABBLE
    with caplog.at_level(logging.WARNING, logger="scorelens.demo._synth"), \
            pytest.warns(synth.SpeechFallbackWarning, match="espeak-ng is not installed.*formant babble, not speech"):
        pool = synth.speech_pool(SR, n=3, seed=4)
    assert len(pool) == 3 and all(np.isfinite(u).all() and u.size > SR for u in pool)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "espeak-ng is not installed" in caplog.records[0].getMessage()
    with pytest.raises(ParameterError, match="espeak=True, but espeak-ng is not installed"):
        synth.speech_pool(SR, n=1, espeak=True)
    # Babble asked for is not an accident: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        synth.speech_pool(SR, n=1, espeak=False)


def test_with_espeak_ng_the_default_is_its_speech():
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed; run scripts/setup.sh")
    assert synth.speech_source() == synth.ESPEAK_SPEECH
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default = synth.speech_pool(SR, n=2, seed=7)
    spoken = synth.speech_pool(SR, n=2, seed=7, espeak=True)
    babble = synth.speech_pool(SR, n=2, seed=7, espeak=False)
    assert all(np.array_equal(a, b) for a, b in zip(default, spoken))
    assert not any(a.size == b.size and np.allclose(a, b) for a, b in zip(default, babble))


def test_the_corpus_manifest_says_what_the_dialogue_is(tmp_path, no_espeak):
    with pytest.warns(synth.SpeechFallbackWarning):
        manifest = make_corpus(tmp_path / "corpus", n_films=1, film_duration_s=20.0, tracks_per_film=1,
                               track_duration_s=8.0, foreign_music=False)
    text = manifest.read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# dialogue: {synth.BABBLE}"
    assert tomllib.loads(text)["corpus"]["name"] == "synthetic-0"
