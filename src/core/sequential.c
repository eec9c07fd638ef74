/* The sequential judge: anytime-valid e-processes on paired canary/baseline time series.
 * Pure: libc and libm; scratch memory is allocated and freed within each call.
 *
 * continuous: each timestamp gives a pair (c, b). For a null relative shift delta the paired
 * contrast x = c - (1 + delta) b has mean <= 0 exactly when mean(c) <= (1 + delta) mean(b), and
 * anything both arms share at that timestamp (load, a slow dependency) cancels from it. The
 * contrasts are autocorrelated (Datadog rollups). We fit their lag-1 autocorrelation phi
 * around each step's own mean (Kendall's small-sample bias corrected, floored at 0, capped at
 * PHI_MAX; see cont_fit_at()) and treat the m
 * contrasts as m (1 - phi) / (1 + phi) independent observations: the effective sample size of the
 * mean of an AR(1) series, i.e. batch means with a batch length of (1 + phi) / (1 - phi),
 * without the arbitrary batch boundaries. On those we run the scale-invariant (t-test) Bayes
 * factor with a N(0, g) prior on the standardised effect: for independent normal observations
 * it is an e-process for every n (its variance is integrated out, not plugged in), so small
 * effective samples are penalised by their few degrees of freedom rather than trusted. The
 * validity under autocorrelation is that of batch means (asymptotic, and checked by simulation in
 * tests/unit/test-sequential.c at phi up to 0.8 with a shared component).
 *
 * count: per timestamp, canary and baseline event counts and the canary's traffic share rho.
 * Given the total, the canary's count is binomial with share theta = rho r / (rho r + 1 - rho),
 * r the canary's rate ratio per unit of traffic, whatever the common (unknown, varying) rate
 * (STATS.md §4.4). The product over timestamps of the binomial likelihood ratios of r against
 * the null r0 is an exact test martingale, for any rho schedule; we mix it over log r on a grid
 * with the image of the Dirichlet (Beta) prior of §4.4, which for constant rho gives §4.4's
 * closed form.
 *
 * Both: the e-value is one-sided towards the regression direction, at the null shift
 * +-tolerance (a shift inside the tolerance is the null); `either` averages the two one-sided
 * e-values (an average of e-processes is one). The caller fails the metric the first time
 * e >= 1/alpha; by Ville's inequality that happens for a healthy canary with probability <= alpha
 * however many looks it takes. The confidence sequence is {delta : two-sided e-value at the point
 * null delta < 1/alpha} on all the data. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/sequential.h"
#include "canaryd/util.h"

#define PHI_MAX 0.95 /* cap of the fitted autocorrelation (effective size >= 2.6 %) */
/* Fewer pairs than this carry no evidence: a lag-1 autocorrelation fitted on a dozen points of
 * an AR(1) series at 0.8 is too often near 0, and then every pair counts as independent. In
 * simulation (4 steps of 20 pairs, looked at every 5) the first looks caused most false
 * failures at phi = 0.8: 2.6 % with no minimum, 1.1 % at 20 pairs, 0.8 % at 25, at no cost in
 * power on +10 % shifts (82 % either way). */
#define AR_MIN_PAIRS 24
/* Standard errors added to the fitted autocorrelation. In simulation (five steps of 20 pairs at
 * phi 0.8, looked at every 5) healthy canaries failed 1.2 % of the time at alpha 1 % without it,
 * 0.7 % with 0.5 (at phi 0.9: 2.9 % and 1.6 %); it costs a few points of power on small shifts
 * (+10 % at phi 0.5: 34 % -> 26 %). */
#define PHI_MARGIN      0.5
#define SEG_MIN_PAIRS   10   /* continuous: shortest step fitted around its own mean */
#define COUNT_GRID_MAX  8000 /* grid points of the count mixture: bounds the cost */
#define COUNT_ETA_LIMIT 30.0 /* |log rate ratio| considered */
#define CS_STEPS        40   /* outward doublings when bracketing an end of the CS */
#define CS_BISECTIONS   60
#define CS_PRECISION    1e-7 /* relative width at which the bisection stops */

static const char *const class_names[_SEQ_CLASS_MAX] = {
    [SEQ_NODATA] = "NoData",
    [SEQ_PASS] = "Pass",
    [SEQ_FAIL] = "Fail",
};

const char *seq_class_to_string(enum seq_class c)
{
        return (unsigned)c < _SEQ_CLASS_MAX ? class_names[c] : NULL;
}

void seq_params_default(struct seq_params *p)
{
        *p = (struct seq_params){
            .direction = DIRECTION_INCREASE,
            .kind = METRIC_KIND_CONTINUOUS,
            .alpha = SEQ_DEFAULT_ALPHA,
            .tolerance = SEQ_DEFAULT_TOLERANCE,
            .min_samples = SEQ_DEFAULT_MIN_SAMPLES,
            .prior_g = SEQ_DEFAULT_PRIOR_G,
            .prior_k = SEQ_DEFAULT_PRIOR_K,
        };
}

double seq_alpha_split(double alpha, size_t n_metrics)
{
        return n_metrics > 1 ? alpha / (double)n_metrics : alpha;
}

static double log_add_exp(double a, double b)
{
        if (a == -(double)INFINITY)
                return b;
        if (b == -(double)INFINITY)
                return a;
        double hi = fmax(a, b), lo = fmin(a, b);
        return hi + log1p(exp(lo - hi));
}

static double log_beta(double a, double b)
{
        return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/* ---- building blocks ---------------------------------------------------------------------- */

double seq_count_log_e_closed(double n_c, double n_b, double rho_c, double k)
{
        double a = k * rho_c, b = k * (1 - rho_c);
        return log_beta(a + n_c, b + n_b) - log_beta(a, b) - n_c * log(rho_c) - n_b * log1p(-rho_c);
}

double seq_msprt(double delta_hat, double v, double tau2, double theta0)
{
        double d = delta_hat - theta0;
        return sqrt(v / (v + tau2)) * exp(tau2 * d * d / (2 * v * (v + tau2)));
}

/* Rouder et al.'s fixed-g Bayes factor: (1 + n g)^-1/2 [(1 + t²/nu) / (1 + t²/(nu (1 + n g)))]
 * ^((nu + 1)/2); its limit as |t| -> Inf is (1 + n g)^(nu/2). */
double seq_t_log_bf(double t, double n, double nu, double g)
{
        double lng = log1p(n * g);
        if (isnan(t) || !(nu > 0))
                return NAN;
        if (isinf(t))
                return 0.5 * nu * lng;
        double t2 = t * t;
        return -0.5 * lng + 0.5 * (nu + 1) * (log1p(t2 / nu) - log1p(t2 / (nu * (1 + n * g))));
}

/* ---- continuous --------------------------------------------------------------------------- */

struct ar1_fit {
        double mean, phi, n_eff, nu, t;
        size_t m; /* pairs */
};

/* Pairs i-1 and i have the same canary share (or both unknown). */
static bool same_share(const double *share, size_t i)
{
        return share[i] == share[i - 1] || (isnan(share[i]) && isnan(share[i - 1]));
}

/* Splits n pairs into segments, runs of equal share (NULL: one segment); ends[j] is the end
 * (exclusive) of segment j, at most n of them. A run shorter than SEG_MIN_PAIRS joins the
 * segment before it (the first run, the one after it): removing the mean of a handful of
 * autocorrelated points leaves almost nothing to fit the noise on, and at the first looks of a
 * step that made healthy canaries fail more often. Returns the number of segments. */
static size_t segment_pairs(const double *share, size_t n, size_t *ends)
{
        size_t k = 0;
        for (size_t lo = 0, hi; lo < n; lo = hi) {
                for (hi = lo + 1; share && hi < n && same_share(share, hi); hi++)
                        ;
                size_t prev_lo = k > 1 ? ends[k - 2] : 0;
                if (k > 0 && (hi - lo < SEG_MIN_PAIRS || ends[k - 1] - prev_lo < SEG_MIN_PAIRS))
                        ends[k - 1] = hi;
                else
                        ends[k++] = hi;
        }
        return k;
}

/* L Var(mean of L consecutive points) / Var(point) for an AR(1) series:
 * 1 + 2 sum_{h=1}^{L-1} (1 - h/L) phi^h, which tends to (1 + phi) / (1 - phi) for long runs. */
static double ar1_mean_factor(size_t len, double phi)
{
        double f = 1, p = 1, l = (double)len;
        for (size_t h = 1; h < len && p > 1e-12; h++) {
                p *= phi;
                f += 2 * (1 - (double)h / l) * p;
        }
        return f;
}

/* Mean, lag-1 autocorrelation, effective size, degrees of freedom and t statistic of the
 * contrasts x = c - (1 + delta) b. The mean is over all pairs; the autocorrelation and the
 * variance are fitted on the deviations from each segment's own mean (segments: runs of equal
 * canary share), with lags inside segments only. A level that changes with the share, such as a
 * regression that only shows once the canary takes 25 %, is then the effect it is, not a long
 * memory that would shrink the effective size to nothing.
 *  - phi: Kendall (1954): with a mean removed from a run of length L, E[r1] = phi - (1 + 3 phi)
 *    / L + O(L^-2); over k segments of m pairs in all, E[r1] ~ phi - k (1 + 3 phi) / m, so
 *    phi = (m r1 + k) / (m - 3 k).
 *  - variance: removing a segment's mean removes the variance of that mean too, which for an
 *    autocorrelated run is large (a third of the total for 20 points at phi 0.8), so the sum of
 *    squares is divided by its expectation per unit variance, sum (L_j - ar1_mean_factor(L_j)),
 *    not by m - k: the naive divisor makes short autocorrelated steps look quiet.
 *  - the mean's variance is that of an AR(1) mean over m points: var ar1_mean_factor(m) / m,
 *    i.e. n_eff = m / ar1_mean_factor(m). */
static struct ar1_fit cont_fit_at(const double *c, const double *b, size_t n, const size_t *ends,
                                  size_t n_segs, double delta)
{
        double kd = 1 + delta, sum = 0;
        for (size_t i = 0; i < n; i++)
                sum += c[i] - kd * b[i];
        double mean = sum / (double)n, ss = 0, lag = 0, segs = (double)n_segs;
        for (size_t j = 0, lo = 0, hi; j < n_segs; j++, lo = hi) {
                double s1 = 0;
                hi = ends[j];
                for (size_t i = lo; i < hi; i++)
                        s1 += c[i] - kd * b[i] - mean; /* centred first: well conditioned */
                double mu = mean + s1 / (double)(hi - lo), prev = 0;
                for (size_t i = lo; i < hi; i++) {
                        double y = c[i] - kd * b[i] - mu;
                        ss += y * y;
                        if (i > lo)
                                lag += y * prev;
                        prev = y;
                }
        }
        double m = (double)n, r1 = ss > 0 ? lag / ss : 0;
        double phi = m > 3 * segs ? (m * r1 + segs) / (m - 3 * segs) : PHI_MAX;
        /* Half a standard error up: an underestimated memory is what makes this test
         * anti-conservative, and on short steps the estimate is noisy. */
        phi = fmin(fmax(phi, 0), PHI_MAX);
        phi = fmin(phi + PHI_MARGIN * sqrt((1 - phi * phi) / m), PHI_MAX);

        double dof = 0; /* E[ss] / Var(point) */
        for (size_t j = 0, lo = 0; j < n_segs; lo = ends[j++])
                dof += (double)(ends[j] - lo) - ar1_mean_factor(ends[j] - lo, phi);
        struct ar1_fit f = {.mean = mean, .phi = phi, .m = n};
        f.n_eff = m / ar1_mean_factor(n, phi);
        f.nu = dof * (1 - phi) / (1 + phi); /* the residuals' independent observations' worth */
        double sd = dof > 0 ? sqrt(ss / dof) : 0;
        if (sd > 0 && sd > 1e-12 * fabs(f.mean))
                f.t = f.mean * sqrt(f.n_eff) / sd;
        else
                f.t = f.mean > 0 ? (double)INFINITY : (f.mean < 0 ? -(double)INFINITY : 0);
        return f;
}

/* ln of the one-sided e-value of a fit: the Bayes factor when the mean points at a regression
 * (t > 0), at most 1 otherwise. Fewer than AR_MIN_PAIRS pairs or 2 effective observations carry
 * no evidence. */
static double fit_log_e(const struct ar1_fit *f, double g, bool two_sided)
{
        if (f->m < AR_MIN_PAIRS || !(f->n_eff >= 2) || !(f->nu >= 1))
                return 0;
        double l = seq_t_log_bf(f->t, f->n_eff, f->nu, g);
        if (two_sided || f->t > 0)
                return l;
        return fmin(l, 0);
}

/* ln(two-sided e at the null shift delta) - ln(1/alpha): negative inside the CS. */
struct cs_fn {
        double (*f)(const struct cs_fn *fn, double x);
        const double *c, *b, *rho;
        const size_t *ends; /* continuous: the segments */
        size_t n, n_segs;
        double g, k, rho_ref, log_level;
};

static double cont_cs_f(const struct cs_fn *fn, double delta)
{
        struct ar1_fit f = cont_fit_at(fn->c, fn->b, fn->n, fn->ends, fn->n_segs, delta);
        return fit_log_e(&f, fn->g, true) - fn->log_level;
}

/* The end of the CS on one side (dir = +1 upward, -1 downward) of centre, where fn < 0:
 * bracket by doubling steps, then bisect. Returns dir * Inf when no step reaches the level, and
 * the bracketing stops at limit (returned as is when fn(limit) < 0 and limit is finite). */
static double cs_end(const struct cs_fn *fn, double centre, double step, int dir, double limit)
{
        double in = centre, out = NAN;
        for (int j = 0; j < CS_STEPS; j++, step *= 2) {
                double x = centre + dir * step;
                if ((dir > 0 && x >= limit) || (dir < 0 && x <= limit)) {
                        if (isinf(limit) || fn->f(fn, limit) < 0)
                                return isinf(limit) ? dir * (double)INFINITY : limit;
                        out = limit;
                        break;
                }
                if (fn->f(fn, x) >= 0) {
                        out = x;
                        break;
                }
                in = x;
        }
        if (isnan(out))
                return dir * (double)INFINITY;
        for (int j = 0; j < CS_BISECTIONS && fabs(out - in) > CS_PRECISION * fmax(1, fabs(in));
             j++) {
                double mid = 0.5 * (in + out);
                if (fn->f(fn, mid) >= 0)
                        out = mid;
                else
                        in = mid;
        }
        return 0.5 * (in + out);
}

/* The decision's e-value from the one-sided ln e of each direction: `either` averages them. */
static double combine_sides(double le_inc, double le_dec, enum direction dir)
{
        switch (dir) {
        case DIRECTION_INCREASE:
                return le_inc;
        case DIRECTION_DECREASE:
                return le_dec;
        case DIRECTION_EITHER:
        case _DIRECTION_MAX:
        default:
                return log_add_exp(le_inc, le_dec) - log(2.0);
        }
}

static void judge_continuous(const double *c, const double *b, const double *share, size_t n,
                             const struct seq_params *p, struct seq_result *ret)
{
        double sc = 0, sb = 0, tol = p->tolerance;
        for (size_t i = 0; i < n; i++) {
                sc += c[i];
                sb += b[i];
        }
        if (!(sb > 0)) {
                ret->classification = SEQ_NODATA;
                snprintf(ret->reason, sizeof(ret->reason),
                         "baseline mean %.6g is not positive: no relative shift", sb / (double)n);
                return;
        }
        size_t *ends = xmalloc(n * sizeof(*ends)), k = segment_pairs(share, n, ends);
        /* increase: x = c - (1 + tol) b, positive on average when worse by more than tol;
         * decrease: x = (1 - tol) b - c, i.e. the negated contrast at -tol. */
        double le_inc = -(double)INFINITY, le_dec = -(double)INFINITY;
        if (p->direction != DIRECTION_DECREASE) {
                struct ar1_fit f = cont_fit_at(c, b, n, ends, k, tol);
                le_inc = fit_log_e(&f, p->prior_g, false);
        }
        if (p->direction != DIRECTION_INCREASE) {
                struct ar1_fit f = cont_fit_at(c, b, n, ends, k, -tol);
                f.t = -f.t;
                le_dec = fit_log_e(&f, p->prior_g, false);
        }
        ret->e_value = exp(combine_sides(le_inc, le_dec, p->direction));
        ret->p_value = fmin(1, 1 / ret->e_value);

        ret->estimate = sc / sb - 1;
        struct ar1_fit f = cont_fit_at(c, b, n, ends, k, ret->estimate);
        ret->autocorrelation = f.phi;
        ret->n_effective = f.n_eff;
        struct cs_fn fn = {.f = cont_cs_f,
                           .c = c,
                           .b = b,
                           .ends = ends,
                           .n = n,
                           .n_segs = k,
                           .g = p->prior_g,
                           .log_level = -log(p->alpha)};
        ret->ci_low = cs_end(&fn, ret->estimate, 1e-3, -1, -(double)INFINITY);
        ret->ci_high = cs_end(&fn, ret->estimate, 1e-3, +1, (double)INFINITY);
        free(ends);
}

/* ---- count -------------------------------------------------------------------------------- */

static double theta_of(double eta, double rho)
{
        return rho / (rho + (1 - rho) * exp(-eta));
}

/* A(eta) = ln(rho e^eta + 1 - rho): a pair's log-likelihood ratio of eta against eta0 is
 * n_c (eta - eta0) - (n_c + n_b) (A(eta) - A(eta0)). */
static double log_norm(double eta, double rho)
{
        return log_add_exp(log(rho) + eta, log1p(-rho));
}

/* The maximum-likelihood log rate ratio, by bisection (the score sum(n_c) - sum(N theta(eta))
 * decreases in eta); clamped to +-COUNT_ETA_LIMIT, NAN without events. */
static double count_mle(const double *nc, const double *nb, const double *rho, size_t n)
{
        double sc = 0, sn = 0, lo = -COUNT_ETA_LIMIT, hi = COUNT_ETA_LIMIT;
        for (size_t i = 0; i < n; i++) {
                sc += nc[i];
                sn += nc[i] + nb[i];
        }
        if (!(sn > 0))
                return NAN;
        for (int it = 0; it < 100; it++) {
                double mid = 0.5 * (lo + hi), score = sc;
                for (size_t i = 0; i < n; i++)
                        score -= (nc[i] + nb[i]) * theta_of(mid, rho[i]);
                if (score > 0)
                        lo = mid;
                else
                        hi = mid;
        }
        return 0.5 * (lo + hi);
}

/* The mixture grid: u_j = j h for j in [j_lo, j_hi], log prior weights (trapezoid). */
struct count_grid {
        double h;
        long j_lo, j_hi;
        double *lw; /* owned, j_hi - j_lo + 1 */
};

static void count_grid_init(struct count_grid *gr, const double *nc, const double *nb,
                            const double *rho, size_t n, double eta0, double rho_ref, double k)
{
        double th0 = theta_of(eta0, rho_ref), a = k * th0, bb = k * (1 - th0);
        double info = k * th0 * (1 - th0);
        for (size_t i = 0; i < n; i++) {
                double th = theta_of(eta0, rho[i]);
                info += (nc[i] + nb[i]) * th * (1 - th);
        }
        double eta_hat = count_mle(nc, nb, rho, n);
        double u_hat = isnan(eta_hat) ? 0 : eta_hat - eta0; /* where the likelihood sits */
        /* The integrand lies between the prior's mode (0) and the likelihood's (u_hat), no wider
         * than either: 15 of their widths around each, and the prior's exponential tails
         * (density ~ e^(a u) below, e^(-bb u) above) down to e^-40. */
        double sd = 1 / sqrt(info), prior_sd = 1 / sqrt(k * th0 * (1 - th0));
        double u_lo = fmin(fmin(-40 / a, -15 * prior_sd), u_hat - 15 * sd);
        double u_hi = fmax(fmax(40 / bb, 15 * prior_sd), u_hat + 15 * sd);
        u_lo = fmax(u_lo, -COUNT_ETA_LIMIT);
        u_hi = fmin(u_hi, COUNT_ETA_LIMIT);
        /* The trapezoid rule on a smooth, unimodal integrand: with steps of half its width the
         * relative error is about exp(-2 pi^2 (sd / h)^2) ~ 1e-34. */
        gr->h = fmin(0.1, sd / 2);
        if ((u_hi - u_lo) / gr->h > COUNT_GRID_MAX)
                gr->h = (u_hi - u_lo) / COUNT_GRID_MAX;
        gr->j_lo = (long)floor(u_lo / gr->h);
        gr->j_hi = (long)ceil(u_hi / gr->h);
        size_t g = (size_t)(gr->j_hi - gr->j_lo + 1);
        gr->lw = xmalloc(g * sizeof(double));
        double lb = log_beta(a, bb);
        for (size_t j = 0; j < g; j++) {
                double u = (double)(gr->j_lo + (long)j) * gr->h;
                double th = theta_of(eta0 + u, rho_ref);
                /* Beta density of theta times d theta / d u = theta (1 - theta) */
                gr->lw[j] = a * log(th) + bb * log1p(-th) - lb + log(gr->h);
        }
        gr->lw[0] += log(0.5);
        gr->lw[g - 1] += log(0.5);
}

static bool grid_in_side(const struct count_grid *gr, size_t j, int side)
{
        long jj = gr->j_lo + (long)j;
        return side == 0 || (side > 0 && jj > 0) || (side < 0 && jj < 0);
}

static double grid_log_mass(const struct count_grid *gr, int side)
{
        double m = -(double)INFINITY;
        for (size_t j = 0; j < (size_t)(gr->j_hi - gr->j_lo + 1); j++)
                if (grid_in_side(gr, j, side))
                        m = log_add_exp(m, gr->lw[j]);
        return m;
}

/* The data's log-likelihood ratio at eta0 + u against eta0 (a0, lr, l1r: per pair
 * ln(rho e^eta0 + 1 - rho), ln rho, ln(1 - rho)). */
static double count_log_lr(const double *n_c, const double *n_b, const double *a0, const double *lr,
                           const double *l1r, size_t n, double eta0, double u)
{
        double l = 0;
        for (size_t i = 0; i < n; i++)
                l += n_c[i] * u -
                     (n_c[i] + n_b[i]) * (log_add_exp(lr[i] + eta0 + u, l1r[i]) - a0[i]);
        return l;
}

double seq_count_log_e(const double *n_c, const double *n_b, const double *rho, size_t n,
                       double eta0, double rho_ref, double k, int side)
{
        struct count_grid gr;
        count_grid_init(&gr, n_c, n_b, rho, n, eta0, rho_ref, k);
        long lo = gr.j_lo, hi = gr.j_hi; /* the side's nodes */
        if (side > 0)
                lo = lo > 1 ? lo : 1;
        if (side < 0)
                hi = hi < -1 ? hi : -1;
        if (lo > hi) { /* no node on that side: no evidence */
                free(gr.lw);
                return 0;
        }
        double mass = grid_log_mass(&gr, side);
        double *a0 = xmalloc((3 * n + 1) * sizeof(double)), *lr = a0 + n, *l1r = lr + n;
        double sc = 0, th0 = theta_of(eta0, rho_ref), a = k * th0, bb = k * (1 - th0);
        for (size_t i = 0; i < n; i++) {
                a0[i] = log_norm(eta0, rho[i]);
                lr[i] = log(rho[i]);
                l1r[i] = log1p(-rho[i]);
                sc += n_c[i];
        }
        /* prior x likelihood is log-concave in u: find its mode (the derivative a (1 - theta) -
         * bb theta + sum(n_c) - sum(N theta_i) decreases), then sum outwards from the node
         * nearest to it until the terms are e^-60 below the largest. Nodes further out add
         * nothing a double can hold, and the data are not visited there. */
        double u_lo = (double)lo * gr.h, u_hi = (double)hi * gr.h;
        for (int it = 0; it < 200 && u_hi - u_lo > gr.h / 4; it++) {
                double mid = 0.5 * (u_lo + u_hi), th = theta_of(eta0 + mid, rho_ref);
                double d = a * (1 - th) - bb * th + sc;
                for (size_t i = 0; i < n; i++)
                        d -= (n_c[i] + n_b[i]) * theta_of(eta0 + mid, rho[i]);
                if (d > 0)
                        u_lo = mid;
                else
                        u_hi = mid;
        }
        long mode = lround(0.5 * (u_lo + u_hi) / gr.h);
        mode = mode < lo ? lo : (mode > hi ? hi : mode);
        double s = -(double)INFINITY, top = -(double)INFINITY;
        for (int dir = -1; dir <= 1; dir += 2)
                for (long j = dir < 0 ? mode : mode + 1; j >= lo && j <= hi; j += dir) {
                        double u = (double)j * gr.h;
                        double t =
                            gr.lw[j - gr.j_lo] + count_log_lr(n_c, n_b, a0, lr, l1r, n, eta0, u);
                        s = log_add_exp(s, t);
                        top = fmax(top, t);
                        if (t < top - 60)
                                break;
                }
        free(a0);
        free(gr.lw);
        return s - mass;
}

static double count_cs_f(const struct cs_fn *fn, double eta)
{
        /* fn->c, fn->b, fn->rho hold the pairs grouped by share (sufficient statistics). */
        return seq_count_log_e(fn->c, fn->b, fn->rho, fn->n, eta, fn->rho_ref, fn->k, 0) -
               fn->log_level;
}

static int cmp_share(const void *x, const void *y)
{
        const double *a = x, *b = y;
        return (a[0] > b[0]) - (a[0] < b[0]);
}

static void judge_count(const double *nc, const double *nb, const double *rho, size_t n,
                        const struct seq_params *p, struct seq_result *ret)
{
        double k = p->prior_k, tol = p->tolerance, rho_ref = rho[0];

        /* Group by share: the likelihood depends only on each share's total counts. */
        double *rows = xmalloc(3 * n * sizeof(double));
        for (size_t i = 0; i < n; i++) {
                rows[3 * i] = rho[i];
                rows[3 * i + 1] = nc[i];
                rows[3 * i + 2] = nb[i];
        }
        qsort(rows, n, 3 * sizeof(double), cmp_share);
        double *gc = xmalloc(3 * n * sizeof(double)), *gb = gc + n, *gs = gb + n;
        size_t ng = 0;
        double sn = 0;
        for (size_t i = 0; i < n; i++) {
                if (ng == 0 || rows[3 * i] != gs[ng - 1]) {
                        gs[ng] = rows[3 * i];
                        gc[ng] = gb[ng] = 0;
                        ng++;
                }
                gc[ng - 1] += rows[3 * i + 1];
                gb[ng - 1] += rows[3 * i + 2];
                sn += rows[3 * i + 1] + rows[3 * i + 2];
        }
        free(rows);

        double le_inc = -(double)INFINITY, le_dec = -(double)INFINITY;
        if (p->direction != DIRECTION_DECREASE)
                le_inc = seq_count_log_e(gc, gb, gs, ng, log1p(tol), rho_ref, k, +1);
        if (p->direction != DIRECTION_INCREASE)
                le_dec = seq_count_log_e(gc, gb, gs, ng, log1p(-tol), rho_ref, k, -1);
        ret->e_value = exp(combine_sides(le_inc, le_dec, p->direction));
        ret->p_value = fmin(1, 1 / ret->e_value);

        double eta_hat = count_mle(gc, gb, gs, ng);
        ret->estimate = expm1(eta_hat);
        ret->n_effective = sn;
        if (isnan(eta_hat))
                eta_hat = 0;
        struct cs_fn fn = {.f = count_cs_f,
                           .c = gc,
                           .b = gb,
                           .rho = gs,
                           .n = ng,
                           .k = k,
                           .rho_ref = rho_ref,
                           .log_level = -log(p->alpha)};
        double e_lo = cs_end(&fn, eta_hat, 0.01, -1, -COUNT_ETA_LIMIT);
        double e_hi = cs_end(&fn, eta_hat, 0.01, +1, COUNT_ETA_LIMIT);
        ret->ci_low = e_lo <= -COUNT_ETA_LIMIT ? -1 : expm1(e_lo);
        ret->ci_high = e_hi >= COUNT_ETA_LIMIT ? (double)INFINITY : expm1(e_hi);
        free(gc);
}

/* ---- entry points ------------------------------------------------------------------------- */

static bool params_valid(const struct seq_params *p)
{
        return p && p->alpha > 0 && p->alpha < 1 && p->tolerance >= 0 && p->tolerance < 1 &&
               (unsigned)p->direction < _DIRECTION_MAX && (unsigned)p->kind < _METRIC_KIND_MAX &&
               p->prior_g >= 0 && p->prior_k >= 0 && isfinite(p->prior_g) && isfinite(p->prior_k);
}

int seq_judge_pairs(const double *canary, const double *baseline, const double *share, size_t n,
                    const struct seq_params *params, struct seq_result *ret)
{
        if (!params_valid(params) || (params->kind == METRIC_KIND_COUNT && !share) ||
            (n && (!canary || !baseline)))
                return -EINVAL;
        struct seq_params p = *params;
        if (p.prior_g == 0)
                p.prior_g = SEQ_DEFAULT_PRIOR_G;
        if (p.prior_k == 0)
                p.prior_k = SEQ_DEFAULT_PRIOR_K;
        bool count = p.kind == METRIC_KIND_COUNT;

        double *c = xmalloc((3 * n + 1) * sizeof(double)), *b = c + n, *s = b + n;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                if (!isfinite(canary[i]) || !isfinite(baseline[i]))
                        continue;
                if (count && (!(share[i] > 0 && share[i] < 1) || canary[i] < 0 || baseline[i] < 0))
                        continue;
                c[m] = canary[i];
                b[m] = baseline[i];
                s[m] = share ? share[i] : (double)NAN;
                m++;
        }

        struct seq_result r = {
            .n = m,
            .e_value = NAN,
            .p_value = NAN,
            .estimate = NAN,
            .ci_low = NAN,
            .ci_high = NAN,
            .autocorrelation = NAN,
            .n_effective = NAN,
            .classification = SEQ_PASS,
        };
        size_t need = p.min_samples ? p.min_samples : 1;
        if (m < need) {
                r.classification = SEQ_NODATA;
                snprintf(r.reason, sizeof(r.reason), "%zu pairs, need %zu", m, need);
        } else {
                if (count)
                        judge_count(c, b, s, m, &p, &r);
                else
                        judge_continuous(c, b, share ? s : NULL, m, &p, &r);
        }
        if (r.classification != SEQ_NODATA) {
                r.classification = r.e_value >= 1 / p.alpha ? SEQ_FAIL : SEQ_PASS;
                r.inside_tolerance = r.ci_low > -p.tolerance && r.ci_high < p.tolerance;
        }
        free(c);
        *ret = r;
        return 0;
}

/* Pairing by timestamp: both arms sorted by (time, original index), then merged. */
struct keyed {
        double t;
        size_t i;
};

static int cmp_keyed(const void *x, const void *y)
{
        const struct keyed *a = x, *b = y;
        if (a->t != b->t)
                return (a->t > b->t) - (a->t < b->t);
        return (a->i > b->i) - (a->i < b->i);
}

static size_t sort_arm(const struct seq_point *v, size_t n, struct keyed *out)
{
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
                if (!isnan(v[i].t_ms))
                        out[m++] = (struct keyed){v[i].t_ms, i};
        qsort(out, m, sizeof(*out), cmp_keyed);
        return m;
}

int seq_judge(const struct seq_point *canary, size_t n_canary, const struct seq_point *baseline,
              size_t n_baseline, const double *canary_share, const struct seq_params *p,
              struct seq_result *ret)
{
        if (!params_valid(p) || (p->kind == METRIC_KIND_COUNT && !canary_share) ||
            (n_canary && !canary) || (n_baseline && !baseline))
                return -EINVAL;
        struct keyed *kc = xmalloc((n_canary + n_baseline + 1) * sizeof(*kc)), *kb = kc + n_canary;
        size_t mc = sort_arm(canary, n_canary, kc), mb = sort_arm(baseline, n_baseline, kb);
        size_t most = mc < mb ? mc : mb;
        double *c = xmalloc((3 * most + 1) * sizeof(double)), *b = c + most, *s = b + most;
        size_t n = 0;
        for (size_t i = 0, j = 0; i < mc && j < mb;) {
                if (kc[i].t < kb[j].t) {
                        i++;
                } else if (kb[j].t < kc[i].t) {
                        j++;
                } else {
                        double t = kc[i].t;
                        c[n] = canary[kc[i].i].value;
                        b[n] = baseline[kb[j].i].value;
                        s[n] = canary_share ? canary_share[kc[i].i] : (double)NAN;
                        n++;
                        while (i < mc && kc[i].t == t) /* later duplicates are ignored */
                                i++;
                        while (j < mb && kb[j].t == t)
                                j++;
                }
        }
        free(kc);
        int r = seq_judge_pairs(c, b, canary_share ? s : NULL, n, p, ret);
        free(c);
        return r;
}
