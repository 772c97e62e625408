"""The exception hierarchy of scorelens.

Every error scorelens raises on purpose derives from :class:`ScorelensError`, so a
caller (and the CLI, in one place) can tell a problem with the input from a bug.
Messages name the file, the parameter, the value and the constraint.
"""

from __future__ import annotations

__all__ = [
    "ScorelensError",
    "ParameterError",
    "MediaError",
    "StoreError",
    "ManifestError",
    "WorkspaceError",
    "AnnotationError",
    "ModelError",
    "FeatureError",
]


class ScorelensError(Exception):
    """Base class of every error scorelens raises deliberately."""


class ParameterError(ScorelensError, ValueError):
    """A setting or argument has a value outside its allowed range."""


class MediaError(ScorelensError):
    """A media file is missing, empty, truncated, not media, or lacks the stream needed."""


class StoreError(ScorelensError):
    """The fingerprint database cannot be opened, is from another version, or was built with other settings."""


class ManifestError(ScorelensError):
    """A corpus manifest is malformed or inconsistent; the message lists every problem found."""

    def __init__(self, path, problems):
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s) in the manifest:\n{lines}")


class WorkspaceError(ScorelensError):
    """The output folder is unusable (not writable, or holds files of another kind)."""


class ResultMissing(WorkspaceError):
    """A result that the workspace does not hold (yet): the message names the stage that makes it."""


class AnnotationError(ScorelensError):
    """A cue table or annotation file is malformed."""


class ModelError(ScorelensError):
    """A model artifact does not match the data, or a model is used before it is fitted."""


class FeatureError(ScorelensError):
    """Features cannot be computed for an input (e.g. missing model weights, span too short)."""
