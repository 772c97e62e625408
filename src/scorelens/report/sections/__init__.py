"""The report's sections: one module each, beside the readers they share (:mod:`._inputs`).

Each ``_<section>.py`` builds one :class:`~scorelens.report._document.Section` from the
workspace's files, read through :class:`._inputs._Inputs`, and returns it; nothing here writes.
:func:`scorelens.report._summary.gather_report` puts them together in the report's order.
"""

from scorelens.report.sections._drivers import top_cues
from scorelens.report.sections._inputs import STUDY_STAMPER
from scorelens.report.sections._music import music_per_film

__all__ = ["STUDY_STAMPER", "music_per_film", "top_cues"]
