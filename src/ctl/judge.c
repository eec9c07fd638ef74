/* `canaryctl judge`: the offline judge of SPEC §5. Reads two sample files (one number a line),
 * runs the Mann-Whitney judge (or the ratio / threshold judge of the daemon) and prints the
 * result for people or as JSON. No daemon, no network. Exit: 0 judged, 1 a file cannot be read
 * or has a bad line, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/config.h"
#include "canaryd/judge.h"
#include "canaryd/mannwhitney.h"
#include "canaryd/samples.h"
#include "canaryd/util.h"
#include "ctl.h"

#define SAMPLES_MAX_BYTES (256u << 20)

#define JUDGE_USAGE                                                                                \
        "usage: canaryctl judge --canary FILE --baseline FILE\n"                                   \
        "         [--judge mann_whitney|ratio|threshold] [-o json|text]\n"                         \
        "  mann_whitney: [--direction increase|decrease|either] [--confidence C]\n"                \
        "                [--allowed-increase R] [--allowed-decrease R] [--tolerance T]\n"          \
        "                [--min-samples N]\n"                                                      \
        "  ratio:        [--reducer R] [--max-ratio R] [--min-ratio R]\n"                          \
        "  threshold:    [--reducer R] [--min V] [--max V]\n"

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
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {0},
};

struct judge_args {
        const char *canary_path, *baseline_path;
        enum judge_kind judge;
        enum reducer reducer;
        struct mw_params mw;
        bool allowed_decrease_set;
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

static int parse_judge_kind(const char *s, enum judge_kind *ret)
{
        static const char *const names[_JUDGE_KIND_MAX] = {
            [JUDGE_THRESHOLD] = "threshold",
            [JUDGE_RATIO] = "ratio",
            [JUDGE_MANN_WHITNEY] = "mann_whitney",
        };
        for (unsigned i = 0; i < _JUDGE_KIND_MAX; i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum judge_kind)i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_direction(const char *s, enum direction *ret)
{
        static const char *const names[_DIRECTION_MAX] = {
            [DIRECTION_INCREASE] = "increase",
            [DIRECTION_DECREASE] = "decrease",
            [DIRECTION_EITHER] = "either",
        };
        for (unsigned i = 0; i < _DIRECTION_MAX; i++)
                if (strcmp(s, names[i]) == 0) {
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

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct judge_args *a)
{
        int c;
        unsigned long ul;
        char *end;

        *a = (struct judge_args){
            .judge = JUDGE_MANN_WHITNEY,
            .reducer = REDUCER_AVG,
            /* The daemon's defaults for a mann_whitney metric (SPEC §3). */
            .mw = {.confidence = 0.98,
                   .direction = DIRECTION_INCREASE,
                   .allowed_increase = 1.0,
                   .allowed_decrease = 1.0,
                   .tolerance = 0.25,
                   .min_samples = 10},
            .min = (double)NAN,
            .max = (double)NAN,
            .min_ratio = (double)NAN,
            .max_ratio = (double)NAN,
        };

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
                                                   "threshold)",
                                                   v);
                        break;
                case OPT_DIRECTION:
                        if (parse_direction(v, &a->mw.direction) < 0)
                                return judge_usage("unknown direction '%s' (increase, decrease, "
                                                   "either)",
                                                   v);
                        break;
                case OPT_REDUCER:
                        if (parse_reducer(v, &a->reducer) < 0)
                                return judge_usage("unknown reducer '%s' (avg, last, min, max, "
                                                   "sum, p50, p90, p95, p99)",
                                                   v);
                        break;
                case OPT_CONFIDENCE:
                        if (!parse_double(v, &a->mw.confidence) || a->mw.confidence <= 0 ||
                            a->mw.confidence >= 1)
                                return judge_usage("--confidence must be a number between 0 and "
                                                   "1 (exclusive), not '%s'",
                                                   v);
                        break;
                case OPT_TOLERANCE:
                        if (!parse_double(v, &a->mw.tolerance) || a->mw.tolerance < 0)
                                return judge_usage("--tolerance must be a number >= 0, not '%s'",
                                                   v);
                        break;
                case OPT_MIN_SAMPLES:
                        errno = 0;
                        ul = strtoul(v, &end, 10);
                        if (errno != 0 || end == v || *end != '\0' || v[0] == '-' ||
                            ul > 1000000000ul)
                                return judge_usage("--min-samples must be a count, not '%s'", v);
                        a->mw.min_samples = ul;
                        break;
                case OPT_ALLOWED_INCREASE:
                        dst = &a->mw.allowed_increase;
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

static int run_mann_whitney(const struct judge_args *a, const double *c, size_t nc, const double *b,
                            size_t nb)
{
        struct mw_result r;
        int k = mann_whitney(c, nc, b, nb, &a->mw, &r);

        if (k < 0) {
                fprintf(stderr, "canaryctl: mann_whitney: %s\n", strerror(-k));
                return k == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_REFUSED;
        }
        if (a->json) {
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
        printf("judge:           mann_whitney (Wilcoxon rank-sum, %s, direction %s)\n",
               r.exact ? "exact" : "normal approximation",
               a->mw.direction == DIRECTION_INCREASE   ? "increase"
               : a->mw.direction == DIRECTION_DECREASE ? "decrease"
                                                       : "either");
        printf("samples:         canary %zu, baseline %zu (NaN removed; minimum %zu)\n", r.n_canary,
               r.n_baseline, a->mw.min_samples ? a->mw.min_samples : 1);
        printf("U (canary):      %.17g\n", r.u);
        printf("p-value:         %.6g (two-sided)\n", r.p_value);
        printf("shift (HL):      %.6g (canary - baseline)\n", r.hl_estimate);
        printf("%g%% interval:    [%.6g, %.6g]\n", 100 * a->mw.confidence, r.ci_low, r.ci_high);
        printf("mean ratio:      %.6g (allowed increase %g, decrease %g)\n", r.mean_ratio,
               a->mw.allowed_increase, a->mw.allowed_decrease);
        printf("classification:  %s: %s\n", mw_class_to_string(r.classification),
               class_meaning(r.classification));
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
            .tolerance = a->mw.tolerance,
            .min_samples = 1,
            .on_no_data = NO_DATA_INCONCLUSIVE,
        };
        struct metric_report rep;

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
        printf("judge:    %s (%s)\n", judge, reducer_to_string(a->reducer));
        printf("samples:  canary %zu, baseline %zu (NaN removed)\n", rep.n_canary, rep.n_baseline);
        printf("canary:   %.6g\nbaseline: %.6g\n", rep.canary, rep.baseline);
        printf("result:   %s: %s\n", verdict ? verdict : "?", rep.detail);
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
        if (a.judge == JUDGE_MANN_WHITNEY)
                r = run_mann_whitney(&a, c, nc, b, nb);
        else
                r = run_metric_judge(&a, c, nc, b, nb);
        free(c);
        free(b);
        if (fflush(stdout) != 0) {
                fprintf(stderr, "canaryctl: cannot write output: %s\n", strerror(errno));
                return CTL_EXIT_REFUSED;
        }
        return r;
}
