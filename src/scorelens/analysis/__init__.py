"""Analyses of the genre models: bags from feature tables, metrics, cross-validated Table 4."""

from scorelens.analysis._data import CorpusBags, bags_from_table
from scorelens.analysis._evaluation import Evaluation, evaluate
from scorelens.analysis._metrics import film_scores, genre_scores, paired_test

__all__ = ["CorpusBags", "bags_from_table", "Evaluation", "evaluate", "genre_scores",
           "film_scores", "paired_test"]
