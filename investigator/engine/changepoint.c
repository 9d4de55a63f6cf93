/* changepoint.c - change-point detection, the version-split z statistic and
 * the hypothesis score of the investigation engine: pure arithmetic over
 * caller arrays, no allocation, no I/O, no clock. */
#include <math.h>

#include "engine_internal.h"

void fw__engine_changepoint(const double *x, const double *w, size_t n, size_t min_seg,
                            double min_abs, double min_ratio, fw__cp_result *out)
{
    out->significant = false;
    out->split = 0;
    out->mean_before = out->mean_after = out->t_stat = 0.0;
    if (min_seg < 1) min_seg = 1;
    size_t m = 0;
    double tot = 0.0, tot2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] > 0.0) {
            m++;
            tot += x[i];
            tot2 += x[i] * x[i];
        }
    }
    if (m < 2 * min_seg) return;
    double best = -1.0, sl = 0.0, sl2 = 0.0;
    size_t nl = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(w[i] > 0.0)) continue;
        /* Split before data step i: left holds nl steps. */
        if (nl >= min_seg && m - nl >= min_seg) {
            double fl = (double)nl, fr = (double)(m - nl);
            double ml = sl / fl, mr = (tot - sl) / fr;
            if (mr > ml) {
                double between = fl * fr / (fl + fr) * (mr - ml) * (mr - ml);
                if (between > best) {
                    double sse = (sl2 - fl * ml * ml) + ((tot2 - sl2) - fr * mr * mr);
                    if (sse < 0.0) sse = 0.0;
                    double var = sse / (double)(m - 2);
                    double floor_var = 0.01 * min_abs * min_abs;
                    if (var < floor_var) var = floor_var;
                    best = between;
                    out->split = i;
                    out->mean_before = ml;
                    out->mean_after = mr;
                    out->t_stat = (mr - ml) / sqrt(var * (1.0 / fl + 1.0 / fr));
                }
            }
        }
        sl += x[i];
        sl2 += x[i] * x[i];
        nl++;
    }
    if (best < 0.0) return;
    double eff = out->mean_after - out->mean_before;
    out->significant = eff >= min_abs && out->mean_after >= out->mean_before * min_ratio &&
                       out->t_stat >= FW__CP_MIN_T;
}

static double clamp01(double v)
{
    if (!(v > 0.0)) return 0.0;
    return v > 1.0 ? 1.0 : v;
}

double fw__engine_score(const fw__score_terms *t)
{
    double pen = t->penalty > 0.0 && t->penalty <= 1.0 ? t->penalty : 1.0;
    double s = 0.45 * clamp01(t->explained) * clamp01(t->novelty) + 0.20 * clamp01(t->timing) +
               0.15 * clamp01(t->specificity) + 0.20 * clamp01(t->corroboration);
    return clamp01(pen * s);
}

const char *fw__engine_confidence(double score)
{
    if (score >= 0.70) return "high";
    if (score >= 0.45) return "medium";
    return "low";
}

double fw__engine_timing(uint64_t t_ns, uint64_t onset_ns)
{
    const double min = 60e9;
    double d = (double)onset_ns - (double)t_ns; /* > 0: before the onset */
    if (d < -1.0 * min) return 0.1;
    if (d <= 2.0 * min) return 1.0;
    if (d >= 30.0 * min) return 0.2;
    return 1.0 - 0.8 * (d - 2.0 * min) / (28.0 * min);
}

double fw__engine_rate_z(double fa, double na, double fb, double nb)
{
    if (!(na > 0.0) || !(nb > 0.0)) return 0.0;
    double p = (fa + fb) / (na + nb);
    double var = p * (1.0 - p) * (1.0 / na + 1.0 / nb);
    if (!(var > 0.0)) return 0.0;
    return (fa / na - fb / nb) / sqrt(var);
}
