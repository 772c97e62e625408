"""What a study shows people: cue sheets, figures, the one-page report, the interactive report and music profiles.

Nothing here writes into a workspace: the stages do.

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.report`` stays light.
"""

#: Public name -> the module that defines it.
_EXPORTS = {
    "CUE_SHEET_FORMATS": "cuesheet",
    "cue_label": "cuesheet",
    "cue_sheet": "cuesheet",
    "format_clock": "cuesheet",
    "format_clock_ms": "cuesheet",
    "format_cue_sheet": "cuesheet",
    "write_cue_sheet": "cuesheet",
    "Cell": "document",
    "Code": "document",
    "GENERATED_PREFIX": "document",
    "Heading": "document",
    "Image": "document",
    "Report": "document",
    "Section": "document",
    "Table": "document",
    "Text": "document",
    "render_html": "document",
    "render_markdown": "document",
    "FIGURE_FORMATS": "figures",
    "average_precisions": "figures",
    "cue_timeline": "figures",
    "film_scatter": "figures",
    "per_film_scores": "figures",
    "pr_curves": "figures",
    "run_label": "figures",
    "save_figure": "figures",
    "plot_group_importance": "importance",
    "descriptor_figure": "profile",
    "render_profile_html": "profile",
    "cue_table_paths": "sources",
    "film_durations": "sources",
    "read_cue_tables": "sources",
    "STUDY_STAMPER": "summary",
    "gather_report": "summary",
    "music_per_film": "summary",
    "top_cues": "summary",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"scorelens.report.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'scorelens.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
