"""The stages of a study, as plain functions: what the CLI, the Python API and the distributed runner call.

Each stage is ``run_<stage>(workspace, config, …) -> <Stage>Report``: it takes its settings
object whole, saves the settings it used in the workspace, and writes only through the
workspace's atomic commit (:meth:`scorelens.workspace.Workspace.commit`). :func:`run` runs
them all in order (``scorelens run``).

==============  ==========================================  ================================
stage           function                                    writes
==============  ==========================================  ================================
index           :func:`~scorelens.stages.stamp.run_index`    the fingerprint database
stamp           :func:`~scorelens.stages.stamp.run_stamp`    ``cues/<film>.parquet``
features        :func:`~scorelens.stages.features.run_features`  ``features/<kind>/``
visual          :func:`~scorelens.stages.visual.run_visual`  ``features/visual/``
evaluate        :func:`~scorelens.stages.evaluate.run_evaluate`  ``results/evaluation/<level>/``
importance      :func:`~scorelens.stages.importance.run_importance`  ``results/importance/…/``
crossmodal      :func:`~scorelens.stages.crossmodal.run_crossmodal`  ``results/crossmodal/``
figures         :func:`~scorelens.stages.figures.run_figures`  ``results/figures/``
report          :func:`~scorelens.stages.report.run_report`  ``results/report/``
predict         :func:`~scorelens.stages.predict.run_predict`  ``cues/<film>.parquet``
==============  ==========================================  ================================
"""

from scorelens.stages.crossmodal import run_crossmodal
from scorelens.stages.evaluate import run_evaluate, run_train
from scorelens.stages.executor import DaskExecutor, LocalExecutor, make_executor
from scorelens.stages.features import film_sources, load_features, run_features
from scorelens.stages.figures import run_figures
from scorelens.stages.importance import run_importance
from scorelens.stages.predict import run_predict
from scorelens.stages.report import run_report
from scorelens.stages.run import RunReport, resolve_settings, run
from scorelens.stages.stamp import run_index, run_stamp, run_stamp_eval, stamp_single_film
from scorelens.stages.visual import run_visual, visual_sources

__all__ = ["run", "resolve_settings", "RunReport", "run_index", "run_stamp", "run_stamp_eval", "stamp_single_film",
           "run_features", "film_sources", "load_features", "run_visual", "visual_sources", "run_evaluate",
           "run_train", "run_importance", "run_crossmodal", "run_figures", "run_report", "run_predict",
           "LocalExecutor", "DaskExecutor", "make_executor"]
