"""Key strength and mode against correlations computed by hand from the Krumhansl-Kessler profiles."""

import numpy as np

from scorelens.features._tonal import KK_MAJOR, KK_MINOR, key_features, key_strengths


def _chroma(pcs):
    c = np.zeros((12, 1))
    c[list(pcs)] = 1.0
    return c


def test_key_strengths_are_pearson_correlations_with_rotated_profiles():
    c = _chroma([0, 4, 7])
    ks = key_strengths(chroma=c)[:, 0]
    np.testing.assert_allclose(ks[0], np.corrcoef(c[:, 0], KK_MAJOR)[0, 1], rtol=1e-9)
    np.testing.assert_allclose(ks[12 + 9], np.corrcoef(c[:, 0], np.roll(KK_MINOR, 9))[0, 1], rtol=1e-9)


def test_major_triad_leans_major_and_minor_triad_minor():
    strength, mode = key_features(chroma=np.hstack([_chroma([0, 4, 7]), _chroma([0, 3, 7])]))
    assert mode[0] > 0 > mode[1]
    assert np.argmax(key_strengths(chroma=_chroma([7, 11, 2]))[:, 0]) == 7  # G major
    assert np.argmax(key_strengths(chroma=_chroma([9, 0, 4]))[:, 0]) == 12 + 9  # A minor
    np.testing.assert_allclose(strength[0], np.corrcoef(_chroma([0, 4, 7])[:, 0], KK_MAJOR)[0, 1])


def test_silent_chroma_has_no_key():
    strength, mode = key_features(chroma=np.zeros((12, 3)))
    assert np.all(strength == 0) and np.all(mode == 0)
