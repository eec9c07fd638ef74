/* Fuzzes the sequential judge on random series, the data a Datadog answer can put in front of
 * it. Invariants: no crash; a valid result for valid parameters; a judged result has an e-value
 * in [0, Inf], p = min(1, 1/e) in [0, 1], Fail exactly when e >= 1/alpha, ci_low <= ci_high
 * when both are numbers (count: ci_low >= -1), inside_tolerance only with a bounded sequence;
 * and pairing by timestamp gives what the already-paired entry point gives, whatever the order
 * of the points.
 *
 * Input: byte 0 = flags (direction, kind, value encoding), byte 1 = alpha, byte 2 = tolerance,
 * byte 3 = min_samples, then pairs of values (and a share for counts): raw little-endian doubles,
 * or single bytes (a small grid with ties, zeros and steady series). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/sequential.h"
#include "canaryd/util.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double take(const uint8_t **p, const uint8_t *end, bool raw)
{
        double v = 0;
        if (raw) {
                if (end - *p >= 8)
                        memcpy(&v, *p, 8);
                *p += 8;
        } else {
                if (*p < end)
                        v = (double)**p;
                *p += 1;
        }
        return v;
}

static void check_result(const struct seq_params *p, const struct seq_result *r, size_t n)
{
        CHECK((unsigned)r->classification < _SEQ_CLASS_MAX);
        CHECK(r->n <= n);
        if (r->classification == SEQ_NODATA)
                return;
        CHECK(r->e_value >= 0); /* also: not NaN */
        CHECK(r->p_value >= 0 && r->p_value <= 1);
        CHECK(r->p_value == fmin(1, 1 / r->e_value));
        CHECK((r->classification == SEQ_FAIL) == (r->e_value >= 1 / p->alpha));
        if (!isnan(r->ci_low) && !isnan(r->ci_high))
                CHECK(r->ci_low <= r->ci_high);
        if (p->kind == METRIC_KIND_COUNT)
                CHECK(isnan(r->ci_low) || r->ci_low >= -1);
        if (r->inside_tolerance)
                CHECK(isfinite(r->ci_low) && isfinite(r->ci_high));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 4)
                return 0;
        struct seq_params p;
        seq_params_default(&p);
        p.direction = (enum direction)(data[0] % 3);
        p.kind = (data[0] >> 2) & 1 ? METRIC_KIND_COUNT : METRIC_KIND_CONTINUOUS;
        bool raw = (data[0] >> 3) & 1;
        p.alpha = ((double)data[1] + 1) / 257;
        p.tolerance = (double)data[2] / 256;
        p.min_samples = data[3] % 32;
        bool count = p.kind == METRIC_KIND_COUNT;

        const uint8_t *q = data + 4, *end = data + size;
        size_t per = (raw ? 8 : 1) * (count ? 3 : 2), cap = (size - 4) / per;
        if (cap > 400) /* the count judge is O(n x grid) per evaluation: keep runs quick */
                cap = 400;
        double *c = xmalloc((cap + 1) * sizeof(double)), *b = xmalloc((cap + 1) * sizeof(double));
        double *s = xmalloc((cap + 1) * sizeof(double));
        size_t n = 0;
        for (; n < cap && q < end; n++) {
                c[n] = take(&q, end, raw);
                b[n] = take(&q, end, raw);
                s[n] = count ? (raw ? take(&q, end, true) : (take(&q, end, false) + 0.5) / 256)
                             : (double)NAN;
        }

        struct seq_result r;
        CHECK(seq_judge_pairs(c, b, count ? s : NULL, n, &p, &r) == 0);
        check_result(&p, &r, n);

        /* The same pairs as time series, the baseline in reverse order. */
        struct seq_point *pc = xmalloc((n + 1) * sizeof(*pc)), *pb = xmalloc((n + 1) * sizeof(*pb));
        for (size_t i = 0; i < n; i++) {
                pc[i] = (struct seq_point){1.7e12 + 1e4 * (double)i, c[i]};
                pb[n - 1 - i] = (struct seq_point){1.7e12 + 1e4 * (double)i, b[i]};
        }
        struct seq_result t;
        CHECK(seq_judge(pc, n, pb, n, count ? s : NULL, &p, &t) == 0);
        CHECK(t.n == r.n && t.classification == r.classification);
        CHECK(t.e_value == r.e_value || (isnan(t.e_value) && isnan(r.e_value)));

        free(pc);
        free(pb);
        free(c);
        free(b);
        free(s);
        return 0;
}
