"""scorelens: where a film's soundtrack plays, what that music is like, and what genre it signals.

A software implementation, and extension, of the system in B. Ma, T. Greer, D. Knox,
S. Narayanan, "A computational lens into how music characterizes genre in film",
PLOS ONE 16(4): e0249957, 2021.

In a notebook: run a study, open it, and work with its results as pandas DataFrames.

>>> import scorelens
>>> report = scorelens.run("corpus.toml", workspace="work")        # doctest: +SKIP
>>> study = scorelens.open("work")                                  # doctest: +SKIP
>>> study.table4().head()                                           # doctest: +SKIP

The study's settings, with its defaults, are typed dataclasses:

>>> config = scorelens.StudyConfig().merged({"model.epochs": 50, "mir.texture_window_s": 4})
>>> config.model.epochs, config.mir.texture_window_s, config.model.hidden_sizes
(50, 4.0, (64, 128))

Its stages are declared once, in order:

>>> list(scorelens.STAGES)
['index', 'stamp', 'features', 'visual', 'evaluate', 'importance', 'crossmodal', 'figures', 'report']

Each stage is ``run_<stage>(workspace, config, corpus, *, executor, progress) -> StageReport``
(:mod:`scorelens.stages`); everything here is imported on first use, so ``import scorelens``
stays light.
"""

from scorelens._version import __version__

#: Public name -> the module that defines it (imported on first use).
_EXPORTS = {
    "run": "scorelens.stages._run",
    "resolve_settings": "scorelens.stages._run",
    "RunReport": "scorelens.stages._run",
    "open": "scorelens._study",
    "Study": "scorelens._study",
    "profile": "scorelens.analysis._profile",
    "STAGES": "scorelens.stages._graph",
    "StageReport": "scorelens.stages._contract",
    "Workspace": "scorelens.workspace",
    "Corpus": "scorelens.corpus",
    "load_corpus": "scorelens.corpus",
    "ScorelensError": "scorelens.exceptions",
    **{name: "scorelens.config" for name in (
        "StudyConfig", "StamperConfig", "FeatureConfig", "MIRConfig", "EmbeddingConfig", "VisualConfig", "ModelConfig",
        "ImportanceConfig", "CrossModalConfig", "FigureConfig", "ReportConfig", "RunConfig")},
}
_SUBMODULES = ("stages", "config", "corpus", "stamp", "features", "mil", "analysis", "report", "io", "exceptions")
#: Names defined under another name in their module.
_ALIASES = {"open": "open_study"}

# ``open`` is left out of ``__all__`` so that ``from scorelens import *`` cannot shadow the builtin.
__all__ = ["__version__", *(n for n in _EXPORTS if n != "open"), *_SUBMODULES]


def __getattr__(name: str):
    import importlib

    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), _ALIASES.get(name, name))
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"scorelens.{name}")
    raise AttributeError(f"module 'scorelens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"open"})
