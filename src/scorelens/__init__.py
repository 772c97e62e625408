"""scorelens: where a film's soundtrack plays, what that music is like, and what genre it signals.

A software implementation, and extension, of the system in B. Ma, T. Greer, D. Knox,
S. Narayanan, "A computational lens into how music characterizes genre in film",
PLOS ONE 16(4): e0249957, 2021.

For notebooks::

    import scorelens
    report = scorelens.run("corpus.toml", workspace="work")          # the whole study
    cues = scorelens.stages.run_stamp(ws, scorelens.StamperConfig(), corpus)   # one stage

The stages live in :mod:`scorelens.stages`, their settings in :mod:`scorelens.config`.
"""

__version__ = "0.2.0"

__all__ = ["__version__", "run", "profile", "stages", "Workspace", "load_corpus", "StudyConfig", "StamperConfig",
           "FeatureConfig", "MIRConfig", "EmbeddingConfig", "VisualConfig", "ModelConfig", "ImportanceConfig",
           "CrossModalConfig", "FigureConfig", "ReportConfig", "RunConfig"]

_CONFIGS = {"StudyConfig", "StamperConfig", "FeatureConfig", "MIRConfig", "EmbeddingConfig", "VisualConfig",
            "ModelConfig", "ImportanceConfig", "CrossModalConfig", "FigureConfig", "ReportConfig", "RunConfig"}


def run(manifest, **kwargs):
    """Run the whole study on a manifest (:func:`scorelens.stages.run.run`; same arguments)."""
    from scorelens.stages.run import run as _run

    return _run(manifest, **kwargs)


def profile(audio, model, *, workspace=None, manifest=None, config=None, embeddings=None):
    """What a trained genre model hears in pieces of music (:func:`scorelens.analysis.profile.profile`).

    Parameters
    ----------
    audio : path or sequence of path
        Pieces of music (any format the decoder reads).
    model : path or GenreModel
        A model artifact from ``scorelens train``.
    workspace : path, optional
        The study the model was trained in (nearest cues, genre distributions).
    manifest : path, optional
        The corpus manifest (default: the workspace's).
    config : ProfileConfig, optional
    embeddings : EmbeddingConfig, optional

    Returns
    -------
    MusicProfile
        ``to_json()``; :func:`scorelens.report.profile.render_profile_html` makes its page.
    """
    from scorelens.analysis.profile import profile as _profile

    return _profile(audio, model, workspace=workspace, manifest=manifest, config=config, embeddings=embeddings)


def __getattr__(name: str):
    # Imported on first use: `import scorelens` stays light (no PyTorch, no pandas).
    if name in _CONFIGS:
        from scorelens import config

        return getattr(config, name)
    if name == "stages":
        import importlib

        return importlib.import_module("scorelens.stages")
    if name == "Workspace":
        from scorelens.workspace import Workspace

        return Workspace
    if name == "load_corpus":
        from scorelens.corpus import load_corpus

        return load_corpus
    raise AttributeError(f"module 'scorelens' has no attribute {name!r}")
