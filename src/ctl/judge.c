/* `canaryctl judge`: the offline judge of SPEC §5 and §8. Reads two sample files (one number a
 * line), runs the Mann-Whitney judge (or the ratio / threshold / sequential judge of the daemon)
 * and prints the result for people or as JSON. No daemon, no network. Exit: 0 judged, 1 a file
 * cannot be read or has a bad line, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/config.h"
#include "canaryd/files.h"
#include "canaryd/judge.h"
#include "canaryd/mannwhitney.h"
#include "canaryd/preprocess.h"
#include "canaryd/samples.h"
#include "canaryd/sequential.h"
#include "canaryd/util.h"
#include "ctl.h"

#define SAMPLES_MAX_BYTES (256u << 20)

#define JUDGE_USAGE                                                                                \
        "usage: canaryctl judge --canary FILE --baseline FILE\n"                                   \
        "         [--judge mann_whitney|ratio|threshold|sequential] [-o json|text]\n"              \
        "  mann_whitney: [--direction increase|decrease|either] [--confidence C]\n"                \
        "                [--allowed-increase R] [--allowed-decrease R] [--tolerance T]\n"          \
        "                [--effect-size mean_ratio|cles] [--min-samples N]\n"                      \
        "  ratio:        [--reducer R] [--max-ratio R] [--min-ratio R]\n"                          \
        "  threshold:    [--reducer R] [--min V] [--max V]\n"                                      \
        "  sequential:   [--direction D] [--alpha A] [--tolerance T] [--min-samples N]\n"          \
        "                [--kind continuous|count] [--share S | --share-file FILE]\n"              \
        "                (line i of both files is the same timestamp; count: --share is the\n"     \
        "                canary's traffic share in (0, 1), --share-file one share a line)\n"       \
        "  each arm:     [--nan-strategy remove|replace] [--outliers keep|remove]\n"               \
        "                [--outlier-factor F]\n"

enum {
        OPT_CANARY = 0x100,
        OPT_BASELINE,
        OPT_JUDGE,
        OPT_DIRECTION,
        OPT_CONFIDENCE,
        OPT_ALLOWED_INCREASE,
        OPT_ALLOWED_DECREASE,
        OPT_TOLERANCE,
        OPT_MIN_SAMPLES,
        OPT_REDUCER,
        OPT_MIN,
        OPT_MAX,
        OPT_MIN_RATIO,
        OPT_MAX_RATIO,
        OPT_EFFECT_SIZE,
        OPT_NAN_STRATEGY,
        OPT_OUTLIERS,
        OPT_OUTLIER_FACTOR,
        OPT_ALPHA,
        OPT_KIND,
        OPT_SHARE,
        OPT_SHARE_FILE,
};

static const struct option judge_options[] = {
    {"canary", required_argument, NULL, OPT_CANARY},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"judge", required_argument, NULL, OPT_JUDGE},
    {"direction", required_argument, NULL, OPT_DIRECTION},
    {"confidence", required_argument, NULL, OPT_CONFIDENCE},
    {"allowed-increase", required_argument, NULL, OPT_ALLOWED_INCREASE},
    {"allowed-decrease", required_argument, NULL, OPT_ALLOWED_DECREASE},
    {"tolerance", required_argument, NULL, OPT_TOLERANCE},
    {"min-samples", required_argument, NULL, OPT_MIN_SAMPLES},
    {"reducer", required_argument, NULL, OPT_REDUCER},
    {"min", required_argument, NULL, OPT_MIN},
    {"max", required_argument, NULL, OPT_MAX},
    {"min-ratio", required_argument, NULL, OPT_MIN_RATIO},
    {"max-ratio", required_argument, NULL, OPT_MAX_RATIO},
    {"effect-size", required_argument, NULL, OPT_EFFECT_SIZE},
    {"nan-strategy", required_argument, NULL, OPT_NAN_STRATEGY},
    {"outliers", required_argument, NULL, OPT_OUTLIERS},
    {"outlier-factor", required_argument, NULL, OPT_OUTLIER_FACTOR},
    {"alpha", required_argument, NULL, OPT_ALPHA},
    {"kind", required_argument, NULL, OPT_KIND},
    {"share", required_argument, NULL, OPT_SHARE},
    {"share-file", required_argument, NULL, OPT_SHARE_FILE},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {0},
};

struct judge_args {
        const char *canary_path, *baseline_path;
        enum judge_kind judge;
        enum reducer reducer;
        struct mw_params mw;
        struct preprocess_params pre;
        bool allowed_increase_set, allowed_decrease_set, outlier_factor_set;
        bool direction_set, tolerance_set, min_samples_set;
        struct seq_params seq;
        double share;           /* count: constant canary share, NAN when not given */
        const char *share_path; /* count: one share a line */
        double min, max, min_ratio, max_ratio;
        bool json;
};

static int judge_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int judge_usage(const char *fmt, ...)
{
        va_list ap;

        fputs("canaryctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fputs(JUDGE_USAGE, stderr);
        return CTL_EXIT_USAGE;
}

static bool parse_double(const char *s, double *ret)
{
        char *end;

        errno = 0;
        double v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
                return false;
        *ret = v;
        return true;
}

/* A number strictly between 0 and 1. */
static bool parse_fraction(const char *s, double *ret)
{
        double v;
        if (!parse_double(s, &v) || v <= 0 || v >= 1)
                return false;
        *ret = v;
        return true;
}

static int fraction_usage(const char *option, const char *value)
{
        return judge_usage("%s must be a number between 0 and 1 (exclusive), not '%s'", option,
                           value);
}

/* The names are the config's (core/config.c), so the CLI and the YAML cannot disagree. */
static int parse_judge_kind(const char *s, enum judge_kind *ret)
{
        for (unsigned i = 0; i < _JUDGE_KIND_MAX; i++)
                if (strcmp(s, judge_kind_to_string((enum judge_kind)i)) == 0) {
                        *ret = (enum judge_kind)i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_direction(const char *s, enum direction *ret)
{
        for (unsigned i = 0; i < _DIRECTION_MAX; i++)
                if (strcmp(s, direction_to_string((enum direction)i)) == 0) {
                        *ret = (enum direction)i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_reducer(const char *s, enum reducer *ret)
{
        for (unsigned i = 0; i < _REDUCER_MAX; i++) {
                const char *name = reducer_to_string((enum reducer)i);
                if (name && strcmp(s, name) == 0) {
                        *ret = (enum reducer)i;
                        return 0;
                }
        }
        return -EINVAL;
}

/* Index of s in names[0..n), or -EINVAL. */
static int lookup(const char *s, const char *(*name)(unsigned), unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                if (name(i) && strcmp(s, name(i)) == 0)
                        return (int)i;
        return -EINVAL;
}

static const char *effect_name(unsigned i)
{
        return effect_size_to_string((enum effect_size)i);
}

static const char *nan_name(unsigned i)
{
        return nan_strategy_to_string((enum nan_strategy)i);
}

static const char *outliers_name(unsigned i)
{
        return outlier_strategy_to_string((enum outlier_strategy)i);
}

static const char *kind_name(unsigned i)
{
        return metric_kind_to_string((enum metric_kind)i);
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct judge_args *a)
{
        int c, k;
        unsigned long ul;
        char *end;

        *a = (struct judge_args){
            .judge = JUDGE_MANN_WHITNEY,
            .reducer = REDUCER_AVG,
            .pre = {.outlier_factor = 3.0},
            .min = (double)NAN,
            .max = (double)NAN,
            .min_ratio = (double)NAN,
            .max_ratio = (double)NAN,
            .share = (double)NAN,
        };
        /* the daemon's defaults for a mann_whitney metric (SPEC §3), min_samples 1: offline,
         * as in Kayenta, only an empty arm is NoData */
        mw_params_default(&a->mw);
        seq_params_default(&a->seq); /* the daemon's defaults for a sequential metric (§8) */

        optind = 0; /* GNU: full re-initialisation for this argv */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", judge_options, NULL)) != -1) {
                const char *v = optarg;
                double *dst = NULL;
                switch (c) {
                case OPT_CANARY:
                        a->canary_path = v;
                        break;
                case OPT_BASELINE:
                        a->baseline_path = v;
                        break;
                case OPT_JUDGE:
                        if (parse_judge_kind(v, &a->judge) < 0)
                                return judge_usage("unknown judge '%s' (mann_whitney, ratio, "
                                                   "threshold, sequential)",
                                                   v);
                        break;
                case OPT_DIRECTION:
                        if (parse_direction(v, &a->mw.direction) < 0)
                                return judge_usage("unknown direction '%s' (increase, decrease, "
                                                   "either)",
                                                   v);
                        a->direction_set = true;
                        break;
                case OPT_REDUCER:
                        if (parse_reducer(v, &a->reducer) < 0)
                                return judge_usage("unknown reducer '%s' (avg, last, min, max, "
                                                   "sum, p50, p90, p95, p99)",
                                                   v);
                        break;
                case OPT_CONFIDENCE:
                        if (!parse_fraction(v, &a->mw.confidence))
                                return fraction_usage("--confidence", v);
                        break;
                case OPT_TOLERANCE:
                        if (!parse_double(v, &a->mw.tolerance) || a->mw.tolerance < 0)
                                return judge_usage("--tolerance must be a number >= 0, not '%s'",
                                                   v);
                        a->tolerance_set = true;
                        break;
                case OPT_ALPHA:
                        if (!parse_fraction(v, &a->seq.alpha))
                                return fraction_usage("--alpha", v);
                        break;
                case OPT_KIND:
                        if ((k = lookup(v, kind_name, _METRIC_KIND_MAX)) < 0)
                                return judge_usage("unknown kind '%s' (continuous, count)", v);
                        a->seq.kind = (enum metric_kind)k;
                        break;
                case OPT_SHARE:
                        if (!parse_fraction(v, &a->share))
                                return fraction_usage("--share", v);
                        break;
                case OPT_SHARE_FILE:
                        a->share_path = v;
                        break;
                case OPT_MIN_SAMPLES:
                        errno = 0;
                        ul = strtoul(v, &end, 10);
                        if (errno != 0 || end == v || *end != '\0' || v[0] == '-' ||
                            ul > 1000000000ul)
                                return judge_usage("--min-samples must be a count, not '%s'", v);
                        a->mw.min_samples = ul;
                        a->min_samples_set = true;
                        break;
                case OPT_EFFECT_SIZE:
                        if ((k = lookup(v, effect_name, _EFFECT_SIZE_MAX)) < 0)
                                return judge_usage("unknown effect size '%s' (mean_ratio, cles)",
                                                   v);
                        a->mw.effect_size = (enum effect_size)k;
                        break;
                case OPT_NAN_STRATEGY:
                        if ((k = lookup(v, nan_name, _NAN_STRATEGY_MAX)) < 0)
                                return judge_usage("unknown NaN strategy '%s' (remove, replace)",
                                                   v);
                        a->pre.nan_strategy = (enum nan_strategy)k;
                        break;
                case OPT_OUTLIERS:
                        if ((k = lookup(v, outliers_name, _OUTLIERS_MAX)) < 0)
                                return judge_usage("unknown outlier strategy '%s' (keep, remove)",
                                                   v);
                        a->pre.outliers = (enum outlier_strategy)k;
                        break;
                case OPT_OUTLIER_FACTOR:
                        if (!parse_double(v, &a->pre.outlier_factor) || a->pre.outlier_factor < 0)
                                return judge_usage("--outlier-factor must be a number >= 0, not "
                                                   "'%s'",
                                                   v);
                        a->outlier_factor_set = true;
                        break;
                case OPT_ALLOWED_INCREASE:
                        dst = &a->mw.allowed_increase;
                        a->allowed_increase_set = true;
                        break;
                case OPT_ALLOWED_DECREASE:
                        dst = &a->mw.allowed_decrease;
                        a->allowed_decrease_set = true;
                        break;
                case OPT_MIN:
                        dst = &a->min;
                        break;
                case OPT_MAX:
                        dst = &a->max;
                        break;
                case OPT_MIN_RATIO:
                        dst = &a->min_ratio;
                        break;
                case OPT_MAX_RATIO:
                        dst = &a->max_ratio;
                        break;
                case 'o':
                        if (strcmp(v, "json") == 0)
                                a->json = true;
                        else if (strcmp(v, "text") == 0 || strcmp(v, "table") == 0)
                                a->json = false;
                        else
                                return judge_usage("unknown output format '%s' (json, text)", v);
                        break;
                case 'h':
                        fputs(JUDGE_USAGE, stdout);
                        return CTL_EXIT_OK;
                case ':':
                        return judge_usage("option '%s' needs a value", argv[optind - 1]);
                case '?':
                default:
                        return judge_usage("unknown option '%s'", argv[optind - 1]);
                }
                if (dst && !parse_double(v, dst))
                        return judge_usage("'%s' is not a finite number", v);
        }
        if (optind < argc)
                return judge_usage("unexpected argument '%s'", argv[optind]);
        if (!a->canary_path)
                return judge_usage("%s", "--canary FILE is required");
        if (!a->baseline_path)
                return judge_usage("%s", "--baseline FILE is required");
        if (a->judge == JUDGE_THRESHOLD && isnan(a->min) && isnan(a->max))
                return judge_usage("%s", "the threshold judge needs --min and/or --max");
        if (a->outlier_factor_set && a->pre.outliers != OUTLIERS_REMOVE)
                return judge_usage("%s", "--outlier-factor applies only with --outliers remove");
        /* As in the configuration: CLES bounds sit around 0.5, mean-ratio bounds around 1. */
        if (a->mw.effect_size == EFFECT_SIZE_CLES) {
                if (!a->allowed_increase_set)
                        a->mw.allowed_increase = 0.5;
                if (!a->allowed_decrease_set)
                        a->mw.allowed_decrease = 0.5;
                if (a->mw.allowed_increase < 0.5 || a->mw.allowed_increase > 1 ||
                    a->mw.allowed_decrease < 0 || a->mw.allowed_decrease > 0.5)
                        return judge_usage("%s", "with --effect-size cles, --allowed-increase "
                                                 "must be in [0.5, 1] and --allowed-decrease in "
                                                 "[0, 0.5]");
        }
        a->mw.critical_increase = a->mw.allowed_increase;
        a->mw.critical_decrease = a->mw.allowed_decrease;
        if (a->judge == JUDGE_SEQUENTIAL) {
                if (a->direction_set)
                        a->seq.direction = a->mw.direction;
                if (a->tolerance_set)
                        a->seq.tolerance = a->mw.tolerance;
                if (a->min_samples_set)
                        a->seq.min_samples = a->mw.min_samples;
                if (a->seq.tolerance >= 1)
                        return judge_usage("%s", "--tolerance of the sequential judge is a "
                                                 "relative shift, below 1");
                bool count = a->seq.kind == METRIC_KIND_COUNT;
                bool share = !isnan(a->share) || a->share_path;
                if (count && !share)
                        return judge_usage("%s", "--kind count needs --share or --share-file");
                if (!count && share)
                        return judge_usage("%s", "--share and --share-file apply only with "
                                                 "--kind count");
                if (!isnan(a->share) && a->share_path)
                        return judge_usage("%s", "give --share or --share-file, not both");
        }
        return -1;
}

/* Reads one sample file. Prints the problem and returns false on failure. */
static bool load_samples(const char *path, double **ret, size_t *ret_n)
{
        struct samples_error err = {0};
        char *text = NULL;
        size_t len = 0;
        int r = read_file(path, SAMPLES_MAX_BYTES, &text, &len);

        if (r < 0) {
                fprintf(stderr, "canaryctl: cannot read %s: %s\n", path,
                        r == -EFBIG ? "file too large" : strerror(-r));
                return false;
        }
        r = samples_parse(text, len, ret, ret_n, &err);
        free(text);
        if (r < 0) {
                fprintf(stderr, "canaryctl: %s: %s\n", path, err.message);
                return false;
        }
        return true;
}

/* %.17g round-trips a double; JSON has no NaN or Inf. */
static void json_number(const char *key, double v, bool last)
{
        if (isfinite(v))
                printf("\"%s\":%.17g%s", key, v, last ? "" : ",");
        else
                printf("\"%s\":null%s", key, last ? "" : ",");
}

static void json_string(const char *key, const char *s, bool last)
{
        printf("\"%s\":\"", key);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        printf("\\%c", *p);
                else if (*p < 0x20)
                        printf("\\u%04x", *p);
                else
                        putchar(*p);
        }
        printf("\"%s", last ? "" : ",");
}

static const char *class_meaning(enum mw_class c)
{
        switch (c) {
        case MW_PASS:
                return "no significant change in the regression direction";
        case MW_HIGH:
                return "canary significantly higher than baseline";
        case MW_LOW:
                return "canary significantly lower than baseline";
        case MW_NODATA:
                return "too few samples to judge";
        case _MW_CLASS_MAX:
                break;
        }
        return "";
}

/* %.6g, or "-" for NaN (nothing to show). */
static const char *fmt_num(char *buf, size_t size, double v)
{
        if (isnan(v))
                snprintf(buf, size, "-");
        else
                snprintf(buf, size, "%.6g", v);
        return buf;
}

/* One row of the per-arm table: label, canary, baseline. */
static void arm_row(const char *label, double c, double b)
{
        char x[32], y[32];
        printf("  %-12s %14s %14s\n", label, fmt_num(x, sizeof(x), c), fmt_num(y, sizeof(y), b));
}

static void arms_table(const double *c, size_t nc, const double *b, size_t nb)
{
        printf("  %-12s %14s %14s\n", "", "canary", "baseline");
        printf("  %-12s %14zu %14zu\n", "values", count_finite(c, nc), count_finite(b, nb));
        arm_row("mean", reduce(REDUCER_AVG, c, nc), reduce(REDUCER_AVG, b, nb));
        arm_row("median", reduce(REDUCER_P50, c, nc), reduce(REDUCER_P50, b, nb));
        arm_row("p99", reduce(REDUCER_P99, c, nc), reduce(REDUCER_P99, b, nb));
        arm_row("min", reduce(REDUCER_MIN, c, nc), reduce(REDUCER_MIN, b, nb));
        arm_row("max", reduce(REDUCER_MAX, c, nc), reduce(REDUCER_MAX, b, nb));
}

static int run_mann_whitney(const struct judge_args *a, const double *c, size_t nc, const double *b,
                            size_t nb, size_t outliers)
{
        struct mw_result r;
        int k = mann_whitney(c, nc, b, nb, &a->mw, &r);
        char x[32], y[32];

        if (k < 0) {
                fprintf(stderr, "canaryctl: mann_whitney: %s\n", strerror(-k));
                return k == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_REFUSED;
        }
        if (a->json) {
                /* Exactly the document of SPEC §5. */
                printf("{\"n_canary\":%zu,\"n_baseline\":%zu,", r.n_canary, r.n_baseline);
                json_number("u", r.u, false);
                json_number("p_value", r.p_value, false);
                json_number("hl_estimate", r.hl_estimate, false);
                json_number("ci_low", r.ci_low, false);
                json_number("ci_high", r.ci_high, false);
                json_number("mean_ratio", r.mean_ratio, false);
                json_string("classification", mw_class_to_string(r.classification), true);
                printf("}\n");
                return CTL_EXIT_OK;
        }
        printf("mann_whitney: %s (%s)\n\n", mw_class_to_string(r.classification),
               class_meaning(r.classification));
        arms_table(c, nc, b, nb);
        printf("\n");
        printf("  %-22s %s\n", "U (canary)", fmt_num(x, sizeof(x), r.u));
        printf("  %-22s %s (two-sided, %s)\n", "p-value", fmt_num(x, sizeof(x), r.p_value),
               r.exact ? "exact" : "normal approximation");
        printf("  %-22s %s (canary - baseline, Hodges-Lehmann)\n", "shift",
               fmt_num(x, sizeof(x), r.hl_estimate));
        char level[32];
        snprintf(level, sizeof(level), "%.4g%% interval", 100 * a->mw.confidence);
        printf("  %-22s [%s, %s]\n", level, fmt_num(x, sizeof(x), r.ci_low),
               fmt_num(y, sizeof(y), r.ci_high));
        printf("  %-22s %s\n", "mean ratio", fmt_num(x, sizeof(x), r.mean_ratio));
        printf("  %-22s %s\n", "cles", fmt_num(x, sizeof(x), r.cles));
        printf("\n  rule: direction %s; High needs the interval above +%g x |shift| and %s >= %g;"
               "\n        Low needs it below -%g x |shift| and %s <= %g; min %zu values per arm\n",
               direction_to_string(a->mw.direction), a->mw.tolerance,
               effect_size_to_string(a->mw.effect_size), a->mw.allowed_increase, a->mw.tolerance,
               effect_size_to_string(a->mw.effect_size), a->mw.allowed_decrease,
               a->mw.min_samples ? a->mw.min_samples : 1);
        printf("  preprocessing: NaN %s, outliers %s", nan_strategy_to_string(a->pre.nan_strategy),
               outlier_strategy_to_string(a->pre.outliers));
        if (a->pre.outliers == OUTLIERS_REMOVE)
                printf(" (factor %g, %zu dropped)", a->pre.outlier_factor, outliers);
        printf("\n");
        return CTL_EXIT_OK;
}

static int run_metric_judge(const struct judge_args *a, const double *c, size_t nc, const double *b,
                            size_t nb)
{
        char name[] = "offline";
        struct metric_config m = {
            .name = name,
            .judge = a->judge,
            .reducer = a->reducer,
            .min = a->min,
            .max = a->max,
            .min_ratio = a->min_ratio,
            .max_ratio = a->max_ratio,
            .direction = a->mw.direction,
            .confidence = a->mw.confidence,
            .allowed_increase = a->mw.allowed_increase,
            .allowed_decrease = a->mw.allowed_decrease,
            .critical_increase = a->mw.critical_increase,
            .critical_decrease = a->mw.critical_decrease,
            .tolerance = a->mw.tolerance,
            .min_samples = 1,
            .on_no_data = NO_DATA_INCONCLUSIVE,
            .nan_strategy = a->pre.nan_strategy,
            .outliers = a->pre.outliers,
            .outlier_factor = a->pre.outlier_factor,
        };
        struct metric_report rep;
        char x[32], y[32];

        /* Without explicit ratio bounds the effect-size flags bound the ratio. */
        if (a->judge == JUDGE_RATIO && isnan(m.max_ratio) && isnan(m.min_ratio)) {
                m.max_ratio = a->mw.allowed_increase;
                if (a->allowed_decrease_set)
                        m.min_ratio = a->mw.allowed_decrease;
        }
        judge_metric(&m, c, nc, b, nb, &rep);
        const char *judge = a->judge == JUDGE_RATIO ? "ratio" : "threshold";
        const char *verdict = verdict_to_string(rep.verdict);
        if (a->json) {
                printf("{");
                json_string("judge", judge, false);
                printf("\"n_canary\":%zu,\"n_baseline\":%zu,", rep.n_canary, rep.n_baseline);
                json_number("canary", rep.canary, false);
                json_number("baseline", rep.baseline, false);
                json_string("result", verdict ? verdict : "", false);
                json_string("detail", rep.detail, true);
                printf("}\n");
                return CTL_EXIT_OK;
        }
        printf("%s: %s (%s)\n\n", judge, verdict ? verdict : "?", rep.detail);
        printf("  %-12s %14s %14s\n", "", "canary", "baseline");
        printf("  %-12s %14zu %14zu\n", "values", rep.n_canary, rep.n_baseline);
        printf("  %-12s %14s %14s\n", reducer_to_string(a->reducer),
               fmt_num(x, sizeof(x), rep.canary), fmt_num(y, sizeof(y), rep.baseline));
        if (rep.outliers)
                printf("  (%zu outliers dropped)\n", rep.outliers);
        return CTL_EXIT_OK;
}

/* The sequential judge on line-aligned files: line i of each file is the same timestamp. */
static int run_sequential(const struct judge_args *a, const double *c, size_t nc, const double *b,
                          size_t nb, const double *share, size_t ns)
{
        struct seq_result r;
        char x[32], y[32];

        if (nc != nb || (share && ns != nc)) {
                fprintf(stderr,
                        "canaryctl: the sequential judge pairs line i of each file: %s has %zu "
                        "values, %s %zu%s\n",
                        a->canary_path, nc, a->baseline_path, nb,
                        share && ns != nc ? " and the share file a different number" : "");
                return CTL_EXIT_REFUSED;
        }
        if (seq_judge_pairs(c, b, share, nc, &a->seq, &r) < 0) {
                fprintf(stderr, "canaryctl: sequential: invalid parameters\n");
                return CTL_EXIT_USAGE;
        }
        if (a->json) {
                printf("{\"n\":%zu,", r.n);
                json_number("e_value", r.e_value, false);
                json_number("p_value", r.p_value, false);
                json_number("estimate", r.estimate, false);
                json_number("ci_low", r.ci_low, false);
                json_number("ci_high", r.ci_high, false);
                printf("\"inside_tolerance\":%s,", r.inside_tolerance ? "true" : "false");
                json_number("autocorrelation", r.autocorrelation, false);
                json_string("classification", seq_class_to_string(r.classification), true);
                printf("}\n");
                return CTL_EXIT_OK;
        }
        printf("sequential: %s", seq_class_to_string(r.classification));
        if (r.classification == SEQ_NODATA)
                printf(" (%s)", r.reason);
        printf("\n\n");
        arms_table(c, nc, b, nb);
        printf("\n");
        printf("  %-22s %zu\n", "pairs", r.n);
        printf("  %-22s %s (relative shift of the canary)\n", "shift",
               fmt_num(x, sizeof(x), r.estimate));
        char level[48];
        snprintf(level, sizeof(level), "%.4g%% conf. sequence", 100 * (1 - a->seq.alpha));
        printf("  %-22s [%s, %s]%s\n", level, fmt_num(x, sizeof(x), r.ci_low),
               fmt_num(y, sizeof(y), r.ci_high),
               r.inside_tolerance ? " (inside the tolerance)" : "");
        printf("  %-22s %s (fails at >= %g)\n", "e-value", fmt_num(x, sizeof(x), r.e_value),
               1 / a->seq.alpha);
        printf("  %-22s %s (anytime-valid)\n", "p-value", fmt_num(x, sizeof(x), r.p_value));
        if (a->seq.kind == METRIC_KIND_COUNT)
                printf("  %-22s %s\n", "events", fmt_num(x, sizeof(x), r.n_effective));
        else
                printf("  %-22s %s (%s pairs' worth of independent data)\n", "autocorrelation",
                       fmt_num(x, sizeof(x), r.autocorrelation),
                       fmt_num(y, sizeof(y), r.n_effective));
        printf(
            "\n  rule: %s metric, fails when the canary is %s by more than %g (relative) at alpha "
            "%g;\n        min %u pairs\n",
            metric_kind_to_string(a->seq.kind),
            a->seq.direction == DIRECTION_INCREASE   ? "higher"
            : a->seq.direction == DIRECTION_DECREASE ? "lower"
                                                     : "higher or lower",
            a->seq.tolerance, a->seq.alpha, a->seq.min_samples ? a->seq.min_samples : 1);
        return CTL_EXIT_OK;
}

int ctl_judge(int argc, char **argv)
{
        struct judge_args a;
        double *c = NULL, *b = NULL;
        size_t nc = 0, nb = 0;
        int r = parse_args(argc, argv, &a);

        if (r >= 0)
                return r;
        if (!load_samples(a.canary_path, &c, &nc) || !load_samples(a.baseline_path, &b, &nb)) {
                free(c);
                return CTL_EXIT_REFUSED;
        }
        if (a.judge == JUDGE_SEQUENTIAL) {
                double *s = NULL;
                size_t ns = 0;
                if (a.share_path && !load_samples(a.share_path, &s, &ns)) {
                        r = CTL_EXIT_REFUSED;
                } else if (!isnan(a.share)) {
                        ns = nc;
                        s = xmalloc((ns ? ns : 1) * sizeof(double));
                        for (size_t i = 0; i < ns; i++)
                                s[i] = a.share;
                }
                if (r < 0)
                        r = run_sequential(&a, c, nc, b, nb, s, ns);
                free(s);
        } else if (a.judge == JUDGE_MANN_WHITNEY) {
                /* The daemon's order: each arm preprocessed, then the test. */
                double *pc = xmalloc((nc ? nc : 1) * sizeof(double));
                double *pb = xmalloc((nb ? nb : 1) * sizeof(double));
                size_t oc = 0, ob = 0;
                size_t kc = preprocess(c, nc, &a.pre, pc, &oc),
                       kb = preprocess(b, nb, &a.pre, pb, &ob);
                r = run_mann_whitney(&a, pc, kc, pb, kb, oc + ob);
                free(pc);
                free(pb);
        } else {
                r = run_metric_judge(&a, c, nc, b, nb);
        }
        free(c);
        free(b);
        if (fflush(stdout) != 0) {
                fprintf(stderr, "canaryctl: cannot write output: %s\n", strerror(errno));
                return CTL_EXIT_REFUSED;
        }
        return r;
}
