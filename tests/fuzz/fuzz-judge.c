/* Fuzzes the judges on random samples: mann_whitney() with random parameters, the fast
 * order-statistic selection against bisection, and judge_metric() / analysis_combine() with
 * preprocessing. Invariants: no crash; on finite input (|v| <= 1e300, so that differences do not
 * overflow) with values on both sides, the estimate and interval are numbers with
 * ci_low <= hl_estimate <= ci_high, U is in [0, nm] and U(x,y) + U(y,x) = nm, the p-value is in
 * [0, 1] (NaN only when every value is tied), CLES is in [0, 1]; every verdict and class is one
 * of the defined values.
 *
 * Input: byte 0 = flags (direction, effect size, value encoding, which judge), byte 1 = the
 * confidence, byte 2 = how the rest splits between canary and baseline, then the values: raw
 * little-endian doubles, or single bytes (a small grid with many ties). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/judge.h"
#include "canaryd/mannwhitney.h"
#include "canaryd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_mw(const double *c, size_t nc, const double *b, size_t nb,
                     const struct mw_params *p, bool finite)
{
        struct mw_result r, s;

        if (mann_whitney(c, nc, b, nb, p, &r) != 0)
                abort();
        if ((unsigned)r.classification >= _MW_CLASS_MAX)
                abort();
        if (r.n_canary == 0 || r.n_baseline == 0) {
                if (r.classification != MW_NODATA || !isnan(r.u))
                        abort();
                return;
        }
        double nm = (double)r.n_canary * (double)r.n_baseline;
        if (!(r.u >= 0 && r.u <= nm) || !(r.cles >= 0 && r.cles <= 1))
                abort();
        if (!isnan(r.p_value) && !(r.p_value >= 0 && r.p_value <= 1))
                abort();
        if (mann_whitney(b, nb, c, nc, p, &s) != 0 || s.u + r.u != nm)
                abort();
        if (!finite)
                return;
        if (isnan(r.hl_estimate) || isnan(r.ci_low) || isnan(r.ci_high))
                abort();
        if (!(r.ci_low <= r.hl_estimate && r.hl_estimate <= r.ci_high))
                abort();
        if (s.hl_estimate != -r.hl_estimate)
                abort();
        if (isnan(r.p_value)) { /* only when every value is one and the same */
                double v = c[0];
                for (size_t i = 0; i < nc; i++)
                        if (c[i] != v)
                                abort();
                for (size_t j = 0; j < nb; j++)
                        if (b[j] != v)
                                abort();
        }
}

static void check_select(const double *c, size_t nc, const double *b, size_t nb, uint64_t seed)
{
        double *x = xmalloc((nc ? nc : 1) * sizeof(double));
        double *y = xmalloc((nb ? nb : 1) * sizeof(double));
        size_t n = 0, m = 0;

        for (size_t i = 0; i < nc; i++)
                if (!isnan(c[i]))
                        x[n++] = c[i] + 0.0;
        for (size_t j = 0; j < nb; j++)
                if (!isnan(b[j]))
                        y[m++] = b[j] + 0.0;
        if (n > 0 && m > 0) {
                qsort(x, n, sizeof(double), cmp_double);
                qsort(y, m, sizeof(double), cmp_double);
                uint64_t k = 1 + seed % ((uint64_t)n * m);
                double got = mw_diff_select(x, n, y, m, k);
                double want = mw_diff_select_bisect(x, n, y, m, k);
                if (!(got == want))
                        abort();
        }
        free(x);
        free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 3)
                return 0;
        uint8_t flags = data[0], conf = data[1], split = data[2];
        data += 3;
        size -= 3;

        bool raw = flags & 0x10;
        size_t width = raw ? sizeof(double) : 1, count = size / width;
        double *v = xmalloc((count ? count : 1) * sizeof(double));
        bool finite = true;
        for (size_t i = 0; i < count; i++) {
                if (raw) {
                        memcpy(&v[i], data + i * width, sizeof(double));
                        if (!isfinite(v[i]) || fabs(v[i]) > 1e300)
                                finite = false;
                } else {
                        v[i] = (double)(data[i] % 32) * 0.25 - 2;
                }
        }
        size_t nc = count * split / 256, nb = count - nc;
        const double *c = v, *b = v + nc;

        struct mw_params p = {
            .confidence = (conf + 0.5) / 256.0,
            .direction = (enum direction)(flags % 3),
            .effect_size = (flags & 0x04) ? EFFECT_SIZE_CLES : EFFECT_SIZE_MEAN_RATIO,
            .tolerance = 0.25,
            .min_samples = flags >> 6,
        };
        p.allowed_increase = p.critical_increase = p.effect_size == EFFECT_SIZE_CLES ? 0.5 : 1.0;
        p.allowed_decrease = p.critical_decrease = p.allowed_increase;
        check_mw(c, nc, b, nb, &p, finite);
        p.method = MW_METHOD_ASYMPTOTIC;
        check_mw(c, nc, b, nb, &p, finite);
        check_select(c, nc, b, nb, (uint64_t)flags * 2654435761u + size);

        /* The daemon's path: preprocessing, the three judges, combining. */
        char name[] = "m";
        struct metric_config m[3];
        struct metric_report rep[3];
        for (int j = 0; j < 3; j++) {
                m[j] = (struct metric_config){
                    .name = name,
                    .judge = (enum judge_kind)j,
                    .reducer = (enum reducer)(conf % _REDUCER_MAX),
                    .min = (double)NAN,
                    .max = 1,
                    .max_ratio = 1.2,
                    .min_ratio = (double)NAN,
                    .critical = flags & 0x08,
                    .direction = p.direction,
                    .confidence = p.confidence,
                    .allowed_increase = p.allowed_increase,
                    .allowed_decrease = p.allowed_decrease,
                    .critical_increase = p.critical_increase,
                    .critical_decrease = p.critical_decrease,
                    .tolerance = 0.25,
                    .min_samples = 1 + (flags >> 6),
                    .nan_strategy = (flags & 0x20) ? NAN_STRATEGY_REPLACE : NAN_STRATEGY_REMOVE,
                    .outliers = (flags & 0x80) ? OUTLIERS_REMOVE : OUTLIERS_KEEP,
                    .outlier_factor = (double)(split % 5),
                    .effect_size = p.effect_size,
                };
                judge_metric(&m[j], c, nc, b, nb, &rep[j]);
                if ((unsigned)rep[j].verdict >= _VERDICT_MAX || !memchr(rep[j].detail, 0, 192))
                        abort();
                if (rep[j].critical && !m[j].critical)
                        abort();
        }
        struct canary_config cc = {.metrics = m,
                                   .n_metrics = 3,
                                   .has_score = flags & 0x01,
                                   .score_pass = 90,
                                   .score_marginal = 50};
        double score;
        enum analysis_result ar = analysis_combine(&cc, rep, 3, &score);
        if ((unsigned)ar >= _ANALYSIS_RESULT_MAX)
                abort();
        if (cc.has_score && !(score >= 0 && score <= 100))
                abort();
        free(v);
        return 0;
}
