"""The statistics every comparison goes through — the report, tuning, claims and studies (scipy.stats and statsmodels).

- `compare_to_reference`: each level against a reference level — paired t or Welch t, p-values
  adjusted across the family (Holm; BH or Bonferroni selectable), intervals consistent with the
  correction, `detectable`, minimum detectable effect and seeds needed from the same test.
- `pooled_compare_to_reference`, `pooled_compare_contrasts`: the same comparisons from one linear
  model over every compared cell with seeds as blocks (OLS `value ~ C(cell) + C(seed)`) where the
  cells share seeds and one residual variance (Brown–Forsythe), else the per-comparison test; each
  row says which test and why (`stats.pooled`); `pooled_difference`: one such difference for a
  caller that corrects over its own family (the claims); `pooled_level_ranks`: rank intervals of levels from
  their corrected pairwise differences (not a bootstrap over few seeds).
- `compare_contrasts`: chosen pairs of levels (level − reference), the same test, correction and
  power — for arms compared among themselves rather than with one reference.
- `difference_sentence`: a comparison row as the sentence the report prints.
- `ChanceTest`, `failure_reasons`: which runs failed to train (status, or validation accuracy not
  above chance), so that they stay out of every mean, effect and ranking.
- `bootstrap_ranking`: factor spreads with stratified-bootstrap intervals and P(ranks first)
  (withheld below `MIN_BOOTSTRAP_SEEDS` seeds a cell, where such a bootstrap under-covers);
  `bootstrap_level_ranks`: the same for the rank of each level among the levels of one factor.
- `order_change_tests`: whether two levels change order between two conditions, by a paired t of
  the per-seed difference of differences (Holm over the pairs) — the only basis for a rank change.
- `interaction_anova`: two-way ANOVA with seeds as blocks and its minimum detectable interaction.
- `mcnemar_exact`, `paired_bootstrap`: two predictors scored on the same test images.
- `mean_ci`, `grouped_ci`: descriptive means with Student-t intervals.
"""

from trickbench.stats.anova import interaction_anova
from trickbench.stats.compare import (CORRECTIONS, PAIRED, WELCH, TwoArmTest, compare_contrasts,
                                             compare_to_reference, interval_alphas, two_arm_test)
from trickbench.stats.failures import AT_CHANCE, ChanceTest, count_reasons, failure_reasons, level_failed
from trickbench.stats.intervals import finite, grouped_ci, mean_ci
from trickbench.stats.paired_images import mcnemar_exact, paired_bootstrap
from trickbench.stats.pooled import (CellContrast, fit_cells, pooled_compare_contrasts, pooled_compare_to_reference,
                                     pooled_difference, pooled_level_ranks)
from trickbench.stats.power import MAX_SEEDS, POWER
from trickbench.stats.rank_change import order_change_tests
from trickbench.stats.ranking import MIN_BOOTSTRAP_SEEDS, bootstrap_level_ranks, bootstrap_ranking
from trickbench.stats.wording import difference_sentence, interval_text, sample_size

__all__ = ["AT_CHANCE", "CORRECTIONS", "MAX_SEEDS", "MIN_BOOTSTRAP_SEEDS", "PAIRED", "POWER", "WELCH", "CellContrast", "ChanceTest", "TwoArmTest",
           "bootstrap_level_ranks", "bootstrap_ranking", "compare_contrasts", "compare_to_reference", "count_reasons", "difference_sentence",
           "failure_reasons", "finite", "grouped_ci", "interaction_anova", "interval_alphas", "interval_text",
           "level_failed", "mcnemar_exact", "mean_ci", "order_change_tests", "paired_bootstrap", "pooled_compare_contrasts", "pooled_compare_to_reference", "pooled_difference", "pooled_level_ranks", "fit_cells", "sample_size", "two_arm_test"]
