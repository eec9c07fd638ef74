/* `canaryctl judge`: the offline judge of SPEC §5 and §8. Reads two sample files (one number a
 * line), runs the Mann-Whitney judge (or the ratio / threshold / sequential judge of the daemon)
 * and prints the result for people or as JSON. No daemon, no network. The exit code is the
 * verdict, for CI: 0 pass, 1 fail, 4 no data (inconclusive); 2 no verdict: a usage error, a file
 * that cannot be read or has a bad line, files that do not pair. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
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
#include "options.h"

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
        "                [--outlier-factor F]\n"                                                   \
        "exit: 0 pass, 1 fail, 4 no data (inconclusive), 2 usage or input error\n"

/* The long options that take a value, in getopt's order; an option's value is its index
 * + OPT_FIRST (above every short option). */
enum {
        OPT_CANARY,
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
        _OPT_MAX,
        OPT_FIRST = 0x100,
};

struct judge_args {
        const char *canary_path, *baseline_path;
        enum judge_kind judge;
        enum reducer reducer;
        struct mw_params mw;
        struct preprocess_params pre;
        unsigned given; /* bit i: option i was given */
        struct seq_params seq;
        double share;           /* count: constant canary share, NAN when not given */
        const char *share_path; /* count: one share a line */
        double min, max, min_ratio, max_ratio;
        bool json;
};

_Static_assert(_OPT_MAX <= 32, "struct judge_args.given has a bit an option");

static bool judge_given(const struct judge_args *a, unsigned opt)
{
        return a->given & (1u << opt);
}

/* How an option's value is read, and the type of its field in struct judge_args. */
enum arg_type {
        ARG_PATH,     /* const char *, borrowed from argv */
        ARG_NAME,     /* an enum, by the name its *_to_string() gives */
        ARG_NUMBER,   /* double, finite */
        ARG_NONNEG,   /* double, finite and >= 0 */
        ARG_FRACTION, /* double, strictly between 0 and 1 */
        ARG_COUNT,    /* size_t, at most 10^9 */
};

static const char *judge_name(unsigned i)
{
        return judge_kind_to_string((enum judge_kind)i);
}

static const char *direction_name(unsigned i)
{
        return direction_to_string((enum direction)i);
}

static const char *reducer_name(unsigned i)
{
        return reducer_to_string((enum reducer)i);
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

/* ARG_NAME stores through an unsigned *: each of these enums must be an unsigned's size. */
_Static_assert(sizeof(enum judge_kind) == sizeof(unsigned), "enum judge_kind");
_Static_assert(sizeof(enum direction) == sizeof(unsigned), "enum direction");
_Static_assert(sizeof(enum reducer) == sizeof(unsigned), "enum reducer");
_Static_assert(sizeof(enum effect_size) == sizeof(unsigned), "enum effect_size");
_Static_assert(sizeof(enum nan_strategy) == sizeof(unsigned), "enum nan_strategy");
_Static_assert(sizeof(enum outlier_strategy) == sizeof(unsigned), "enum outlier_strategy");
_Static_assert(sizeof(enum metric_kind) == sizeof(unsigned), "enum metric_kind");

/* An enum read by name: the names (NULL ones skipped), and what a usage error calls the value
 * and lists as its choices. The names are the config's (core/config.c), so the CLI and the YAML
 * cannot disagree. */
struct enum_names {
        const char *(*name)(unsigned);
        unsigned n;
        const char *what, *choices;
};

static const struct enum_names judge_names = {judge_name, _JUDGE_KIND_MAX, "judge",
                                              "mann_whitney, ratio, threshold, sequential"};
static const struct enum_names direction_names = {direction_name, _DIRECTION_MAX, "direction",
                                                  "increase, decrease, either"};
static const struct enum_names reducer_names = {reducer_name, _REDUCER_MAX, "reducer",
                                                "avg, last, min, max, sum, p50, p90, p95, p99"};
static const struct enum_names effect_names = {effect_name, _EFFECT_SIZE_MAX, "effect size",
                                               "mean_ratio, cles"};
static const struct enum_names nan_names = {nan_name, _NAN_STRATEGY_MAX, "NaN strategy",
                                            "remove, replace"};
static const struct enum_names outliers_names = {outliers_name, _OUTLIERS_MAX, "outlier strategy",
                                                 "keep, remove"};
static const struct enum_names kind_names = {kind_name, _METRIC_KIND_MAX, "kind",
                                             "continuous, count"};

/* One long option with a value: its name (without "--"), how it is read and where it goes. */
struct judge_option {
        const char *name;
        enum arg_type type;
        size_t offset;                  /* of the field in struct judge_args */
        const struct enum_names *names; /* ARG_NAME only */
};

#define FIELD(f) offsetof(struct judge_args, f)

static const struct judge_option judge_options[_OPT_MAX] = {
    [OPT_CANARY] = {"canary", ARG_PATH, FIELD(canary_path), NULL},
    [OPT_BASELINE] = {"baseline", ARG_PATH, FIELD(baseline_path), NULL},
    [OPT_JUDGE] = {"judge", ARG_NAME, FIELD(judge), &judge_names},
    [OPT_DIRECTION] = {"direction", ARG_NAME, FIELD(mw.direction), &direction_names},
    [OPT_CONFIDENCE] = {"confidence", ARG_FRACTION, FIELD(mw.confidence), NULL},
    [OPT_ALLOWED_INCREASE] = {"allowed-increase", ARG_NUMBER, FIELD(mw.allowed_increase), NULL},
    [OPT_ALLOWED_DECREASE] = {"allowed-decrease", ARG_NUMBER, FIELD(mw.allowed_decrease), NULL},
    [OPT_TOLERANCE] = {"tolerance", ARG_NONNEG, FIELD(mw.tolerance), NULL},
    [OPT_MIN_SAMPLES] = {"min-samples", ARG_COUNT, FIELD(mw.min_samples), NULL},
    [OPT_REDUCER] = {"reducer", ARG_NAME, FIELD(reducer), &reducer_names},
    [OPT_MIN] = {"min", ARG_NUMBER, FIELD(min), NULL},
    [OPT_MAX] = {"max", ARG_NUMBER, FIELD(max), NULL},
    [OPT_MIN_RATIO] = {"min-ratio", ARG_NUMBER, FIELD(min_ratio), NULL},
    [OPT_MAX_RATIO] = {"max-ratio", ARG_NUMBER, FIELD(max_ratio), NULL},
    [OPT_EFFECT_SIZE] = {"effect-size", ARG_NAME, FIELD(mw.effect_size), &effect_names},
    [OPT_NAN_STRATEGY] = {"nan-strategy", ARG_NAME, FIELD(pre.nan_strategy), &nan_names},
    [OPT_OUTLIERS] = {"outliers", ARG_NAME, FIELD(pre.outliers), &outliers_names},
    [OPT_OUTLIER_FACTOR] = {"outlier-factor", ARG_NONNEG, FIELD(pre.outlier_factor), NULL},
    [OPT_ALPHA] = {"alpha", ARG_FRACTION, FIELD(seq.alpha), NULL},
    [OPT_KIND] = {"kind", ARG_NAME, FIELD(seq.kind), &kind_names},
    [OPT_SHARE] = {"share", ARG_FRACTION, FIELD(share), NULL},
    [OPT_SHARE_FILE] = {"share-file", ARG_PATH, FIELD(share_path), NULL},
};

#undef FIELD

/* getopt's table: judge_options, then -o and -h. */
static void long_options(struct option ret[static _OPT_MAX + 3])
{
        for (unsigned i = 0; i < _OPT_MAX; i++)
                ret[i] = (struct option){judge_options[i].name, required_argument, NULL,
                                         OPT_FIRST + (int)i};
        ret[_OPT_MAX] = (struct option){"output", required_argument, NULL, 'o'};
        ret[_OPT_MAX + 1] = (struct option){"help", no_argument, NULL, 'h'};
        ret[_OPT_MAX + 2] = (struct option){0};
}

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

/* Index of s in names[0..n), or -EINVAL. */
static int lookup(const char *s, const char *(*name)(unsigned), unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                if (name(i) && strcmp(s, name(i)) == 0)
                        return (int)i;
        return -EINVAL;
}

/* Reads the value v of option opt into its field. Returns -1 to go on, or the exit code. */
static int option_store(struct judge_args *a, unsigned opt, const char *v)
{
        const struct judge_option *o = &judge_options[opt];
        void *field = (char *)a + o->offset;
        double *d = field;
        unsigned long ul;
        char *end;
        int k;

        a->given |= 1u << opt;
        switch (o->type) {
        case ARG_PATH:
                *(const char **)field = v;
                break;
        case ARG_NAME:
                if ((k = lookup(v, o->names->name, o->names->n)) < 0)
                        return judge_usage("unknown %s '%s' (%s)", o->names->what, v,
                                           o->names->choices);
                *(unsigned *)field = (unsigned)k;
                break;
        case ARG_NUMBER:
                if (!parse_double(v, d))
                        return judge_usage("'%s' is not a finite number", v);
                break;
        case ARG_NONNEG:
                if (!parse_double(v, d) || *d < 0)
                        return judge_usage("--%s must be a number >= 0, not '%s'", o->name, v);
                break;
        case ARG_FRACTION:
                if (!parse_fraction(v, d))
                        return judge_usage("--%s must be a number between 0 and 1 (exclusive), "
                                           "not '%s'",
                                           o->name, v);
                break;
        case ARG_COUNT:
                errno = 0;
                ul = strtoul(v, &end, 10);
                if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || ul > 1000000000ul)
                        return judge_usage("--%s must be a count, not '%s'", o->name, v);
                *(size_t *)field = ul;
                break;
        }
        return -1;
}

static void judge_args_default(struct judge_args *a)
{
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
}

/* The sequential judge takes --direction, --tolerance and --min-samples too. Returns -1 to go
 * on, or the exit code. */
static int sequential_args(struct judge_args *a)
{
        if (judge_given(a, OPT_DIRECTION))
                a->seq.direction = a->mw.direction;
        if (judge_given(a, OPT_TOLERANCE))
                a->seq.tolerance = a->mw.tolerance;
        if (judge_given(a, OPT_MIN_SAMPLES))
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
        return -1;
}

/* The checks across options, and the values that depend on others. Returns -1 to go on, or
 * the exit code. */
static int judge_args_check(struct judge_args *a)
{
        if (!a->canary_path)
                return judge_usage("%s", "--canary FILE is required");
        if (!a->baseline_path)
                return judge_usage("%s", "--baseline FILE is required");
        if (a->judge == JUDGE_THRESHOLD && isnan(a->min) && isnan(a->max))
                return judge_usage("%s", "the threshold judge needs --min and/or --max");
        if (judge_given(a, OPT_OUTLIER_FACTOR) && a->pre.outliers != OUTLIERS_REMOVE)
                return judge_usage("%s", "--outlier-factor applies only with --outliers remove");
        /* As in the configuration: CLES bounds sit around 0.5, mean-ratio bounds around 1. */
        if (a->mw.effect_size == EFFECT_SIZE_CLES) {
                if (!judge_given(a, OPT_ALLOWED_INCREASE))
                        a->mw.allowed_increase = 0.5;
                if (!judge_given(a, OPT_ALLOWED_DECREASE))
                        a->mw.allowed_decrease = 0.5;
                if (a->mw.allowed_increase < 0.5 || a->mw.allowed_increase > 1 ||
                    a->mw.allowed_decrease < 0 || a->mw.allowed_decrease > 0.5)
                        return judge_usage("%s", "with --effect-size cles, --allowed-increase "
                                                 "must be in [0.5, 1] and --allowed-decrease in "
                                                 "[0, 0.5]");
        }
        a->mw.critical_increase = a->mw.allowed_increase;
        a->mw.critical_decrease = a->mw.allowed_decrease;
        if (a->judge == JUDGE_SEQUENTIAL)
                return sequential_args(a);
        return -1;
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct judge_args *a)
{
        struct option longopts[_OPT_MAX + 3];
        int c, r;

        judge_args_default(a);
        long_options(longopts);
        const char *inexact = options_not_exact(argc, argv, longopts, false);
        if (inexact)
                return judge_usage("unknown option '%s' (long options are written in full)",
                                   inexact);
        optind = 0; /* GNU: full re-initialisation for this argv */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        if (strcmp(optarg, "json") == 0)
                                a->json = true;
                        else if (strcmp(optarg, "text") == 0 || strcmp(optarg, "table") == 0)
                                a->json = false;
                        else
                                return judge_usage("unknown output format '%s' (json, text)",
                                                   optarg);
                        break;
                case 'h':
                        fputs(JUDGE_USAGE, stdout);
                        return CTL_EXIT_OK;
                case ':':
                        return judge_usage("option '%s' needs a value", argv[optind - 1]);
                default:
                        if (c < OPT_FIRST || c >= OPT_FIRST + _OPT_MAX)
                                return judge_usage("unknown option '%s'", argv[optind - 1]);
                        if ((r = option_store(a, (unsigned)(c - OPT_FIRST), optarg)) >= 0)
                                return r;
                }
        }
        if (optind < argc)
                return judge_usage("unexpected argument '%s'", argv[optind]);
        return judge_args_check(a);
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

static int mw_exit(enum mw_class c)
{
        return c == MW_PASS ? CTL_JUDGE_PASS : c == MW_NODATA ? CTL_JUDGE_NODATA : CTL_JUDGE_FAIL;
}

static int verdict_exit(enum verdict v)
{
        return v == VERDICT_PASS   ? CTL_JUDGE_PASS
               : v == VERDICT_FAIL ? CTL_JUDGE_FAIL
                                   : CTL_JUDGE_NODATA;
}

static int seq_exit(enum seq_class c)
{
        return c == SEQ_PASS ? CTL_JUDGE_PASS : c == SEQ_FAIL ? CTL_JUDGE_FAIL : CTL_JUDGE_NODATA;
}

static int run_mann_whitney(const struct judge_args *a, const double *c, size_t nc, const double *b,
                            size_t nb, size_t outliers)
{
        struct mw_result r;
        int k = mann_whitney(c, nc, b, nb, &a->mw, &r);
        char x[32], y[32];

        if (k < 0) {
                fprintf(stderr, "canaryctl: mann_whitney: %s\n", strerror(-k));
                return CTL_EXIT_USAGE;
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
                return mw_exit(r.classification);
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
        return mw_exit(r.classification);
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
                if (judge_given(a, OPT_ALLOWED_DECREASE))
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
                return verdict_exit(rep.verdict);
        }
        printf("%s: %s (%s)\n\n", judge, verdict ? verdict : "?", rep.detail);
        printf("  %-12s %14s %14s\n", "", "canary", "baseline");
        printf("  %-12s %14zu %14zu\n", "values", rep.n_canary, rep.n_baseline);
        printf("  %-12s %14s %14s\n", reducer_to_string(a->reducer),
               fmt_num(x, sizeof(x), rep.canary), fmt_num(y, sizeof(y), rep.baseline));
        if (rep.outliers)
                printf("  (%zu outliers dropped)\n", rep.outliers);
        return verdict_exit(rep.verdict);
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
                return CTL_EXIT_USAGE;
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
                return seq_exit(r.classification);
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
        return seq_exit(r.classification);
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
                return CTL_EXIT_USAGE;
        }
        if (a.judge == JUDGE_SEQUENTIAL) {
                double *s = NULL;
                size_t ns = 0;
                if (a.share_path && !load_samples(a.share_path, &s, &ns)) {
                        r = CTL_EXIT_USAGE;
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
                return CTL_EXIT_USAGE;
        }
        return r;
}
