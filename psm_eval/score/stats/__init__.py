"""Statistics over scores: intervals fit for each metric kind, paired and clustered; tests; equivalence;
entropy; profile similarity. Pure numpy/scipy/statsmodels functions, deterministic for a seed.

`choose` holds the rule that picks a method by metric kind and number of clusters; the modules below
it hold the methods. Every interval resamples, flips or counts *clusters* (a sample with its turns,
repeats or paraphrases), so several scores from one cluster never count as independent evidence.
"""

from psm_eval.score.stats._core import LEVEL, N_BOOTSTRAP, Interval, Kind, cluster_index, group_seed
from psm_eval.score.stats.bootstrap import (
                                    bootstrap_mean,
                                    bootstrap_pooled,
                                    bootstrap_slope,
                                    lc_win_rate,
                                    paired_difference,
                                    slope_difference,
)
from psm_eval.score.stats.choose import difference_interval, difference_test, mean_interval
from psm_eval.score.stats.entropy import (
                                    chao_shen_rows,
                                    entropy_bits,
                                    entropy_difference,
                                    entropy_rows,
                                    miller_madow_rows,
                                    pooled_entropy,
)
from psm_eval.score.stats.means import bca_mean, binary_mean, cluster_t_mean, effective_n, pooled_share
from psm_eval.score.stats.paired import newcombe_paired, paired_binary_difference, paired_table, tango_paired
from psm_eval.score.stats.pairing import CompleteCases, complete_cases, paired_differences, per_sample
from psm_eval.score.stats.profile import ProfileSimilarity, profile_similarity
from psm_eval.score.stats.significance import EXACT_MAX_CLUSTERS, Equivalence, holm, mcnemar_exact, sign_flip_p, tost

__all__ = [
    # records and constants
    "Interval", "Kind", "N_BOOTSTRAP", "LEVEL", "EXACT_MAX_CLUSTERS", "cluster_index", "group_seed",
    # the rule
    "mean_interval", "difference_interval", "difference_test",
    # means and differences
    "binary_mean", "effective_n", "cluster_t_mean", "bca_mean", "pooled_share", "paired_binary_difference",
    "newcombe_paired",
    "tango_paired", "paired_table",
    # pairing
    "per_sample", "paired_differences", "CompleteCases", "complete_cases",
    # tests
    "sign_flip_p", "mcnemar_exact", "holm", "tost", "Equivalence",
    # entropy
    "entropy_bits", "entropy_rows", "miller_madow_rows", "chao_shen_rows", "pooled_entropy", "entropy_difference",
    # profiles
    "profile_similarity", "ProfileSimilarity",
    # the historical percentile-bootstrap statistics
    "bootstrap_mean", "paired_difference", "bootstrap_slope", "slope_difference", "lc_win_rate", "bootstrap_pooled",
]
