"""What a study shows people: cue sheets, figures, the one-page report, the interactive report and music profiles.

Nothing here writes into a workspace: the stages do.

The public names of the modules below are re-exported here and imported on first use, so that
``import scorelens.report`` stays light.
"""

from scorelens._lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "CUE_SHEET_FORMATS": "_cuesheet",
    "cue_label": "_cuesheet",
    "cue_sheet": "_cuesheet",
    "format_clock": "_cuesheet",
    "format_clock_ms": "_cuesheet",
    "format_cue_sheet": "_cuesheet",
    "write_cue_sheet": "_cuesheet",
    "Cell": "_document",
    "Code": "_document",
    "GENERATED_PREFIX": "_document",
    "Heading": "_document",
    "Image": "_document",
    "Report": "_document",
    "Section": "_document",
    "Table": "_document",
    "Text": "_document",
    "render_html": "_document",
    "render_markdown": "_document",
    "FIGURE_FORMATS": "_figures",
    "average_precisions": "_figures",
    "cue_timeline": "_figures",
    "film_scatter": "_figures",
    "per_film_scores": "_figures",
    "pr_curves": "_figures",
    "run_label": "_figures",
    "save_figure": "_figures",
    "plot_group_importance": "_importance",
    "descriptor_figure": "_profile",
    "render_profile_html": "_profile",
    "cue_table_paths": "_sources",
    "film_durations": "_sources",
    "read_cue_tables": "_sources",
    "STUDY_STAMPER": "_summary",
    "gather_report": "_summary",
    "music_per_film": "_summary",
    "top_cues": "_summary",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
