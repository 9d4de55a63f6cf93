/* engine_internal.h - the investigation engine's pure building blocks,
 * shared by its files and reached by tests/unit/test_engine.c: change-point
 * detection, hypothesis scoring. Never part of the public contract. */
#ifndef FLYWHEEL_ENGINE_INTERNAL_H
#define FLYWHEEL_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Two-segment mean-shift change point of a series |x| of |n| steps; steps
 * with w[i] <= 0 (no data) are skipped. Looks for a RISE: the split k
 * (first step of the second segment) maximising the between-segment sum of
 * squares nL*nR/(nL+nR) * (mR - mL)^2 over splits leaving at least
 * |min_seg| data steps on each side. Significant when mR - mL >= |min_abs|,
 * mR >= mL * |min_ratio| and the two-sample t statistic (pooled variance,
 * floored so a noiseless step still counts) is >= FW__CP_MIN_T. */
#define FW__CP_MIN_T 5.0
typedef struct fw__cp_result {
    bool significant;
    size_t split; /* index into x (first step after the change) */
    double mean_before;
    double mean_after;
    double t_stat;
} fw__cp_result;
void fw__engine_changepoint(const double *x, const double *w, size_t n, size_t min_seg,
                            double min_abs, double min_ratio, fw__cp_result *out);

/* Evidence terms of one hypothesis, each in [0, 1]. */
typedef struct fw__score_terms {
    double explained;   /* share of the impact (failing traces / latency growth) it explains */
    double novelty;     /* share of its signal that is new since the baseline */
    double timing;      /* how closely its start matches the onset */
    double specificity; /* how precisely it names a component */
    double corroboration; /* independent signals agreeing (logs, split, throttling, RED) */
    double penalty;     /* monitoring gaps touching it: multiplier in (0, 1] */
} fw__score_terms;
/* score = penalty * (0.45 * explained * novelty + 0.20 * timing
 *                    + 0.15 * specificity + 0.20 * corroboration), in [0, 1]. */
double fw__engine_score(const fw__score_terms *t);
/* "high" >= 0.70, "medium" >= 0.45, else "low". */
const char *fw__engine_confidence(double score);
/* Timing term of a change at |t_ns| against the onset: 1 within 2 min
 * before to 1 min after, falling linearly to 0.2 at 30 min before, 0.1
 * when it came more than 1 min after (it cannot have caused the onset). */
double fw__engine_timing(uint64_t t_ns, uint64_t onset_ns);

/* Two-proportion z statistic of failure rate a = fa/na against b = fb/nb
 * (pooled; positive when a is worse): how far the new version's failure
 * rate stands above the old one's, in standard errors. 0 when either side
 * has no requests or both rates are 0 or 1. */
double fw__engine_rate_z(double fa, double na, double fb, double nb);

#endif
