/* Fuzzes config_parse() on arbitrary bytes, and config_parse_canaries() on them as files of
 * canaries_dir: they must never crash, leak or read out of bounds, must either succeed with no
 * problem or fail with at least one, and every problem must print. A success has valid steps:
 * strictly increasing in 1..100, approval only on steps below 100, approve_timeout only with an
 * approval step. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "canaryd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy, so that ASan catches any read past len. */
        char *text = malloc(size ? size : 1);
        if (!text)
                return 0;
        for (size_t i = 0; i < size; i++)
                text[i] = (char)data[i];

        struct config *c = NULL;
        struct config_problems p = {0};
        int r = config_parse(text, size, &c, &p);
        if (r == 0) {
                if (!c || p.n != 0)
                        abort();
                for (size_t i = 0; i < c->n_canaries; i++) {
                        const struct canary_config *cc = &c->canaries[i];
                        if (cc->n_steps == 0 || cc->n_steps > CONFIG_MAX_STEPS)
                                abort();
                        for (size_t j = 0; j < cc->n_steps; j++)
                                if (cc->steps[j] < 1 || cc->steps[j] > 100 ||
                                    (j > 0 && cc->steps[j] <= cc->steps[j - 1]))
                                        abort();
                        /* an approval step lies before promotion, and a timeout has one */
                        bool any_approve = false;
                        for (size_t j = 0; j < CONFIG_MAX_STEPS; j++) {
                                bool a = (cc->step_approve[j / 8] >> (j % 8)) & 1;
                                if (a && (j >= cc->n_steps || cc->steps[j] >= 100))
                                        abort();
                                any_approve |= a;
                        }
                        if (cc->approve_timeout_usec && !any_approve)
                                abort();
                        if (config_find_canary(c, cc->name) != cc)
                                abort();
                }
        } else if (r != -EINVAL || c || p.n == 0) {
                abort();
        }

        FILE *f = fopen("/dev/null", "w");
        if (f) {
                config_problems_print(&p, "fuzz.yaml", f);
                fclose(f);
        }
        config_problems_free(&p);
        config_free(c);

        /* The same bytes as a file of canaries_dir, then as two files: a failure leaves the
         * config as it was; every canary of the second copy is a duplicate of the first's. */
        struct config *base = NULL;
        if (config_parse("{}", 2, &base, &p) != 0)
                abort();
        const struct config_file one[] = {{"a.yaml", text, size, 0}, {"b.yaml", text, size, 0}};
        r = config_parse_canaries(base, "main.yaml", one, 1, &p);
        size_t n_first = base->n_canaries;
        if ((r == 0) != (p.n == 0) || (r != 0 && n_first != 0))
                abort();
        config_problems_free(&p);
        r = config_parse_canaries(base, "main.yaml", one, 2, &p);
        if ((r == 0) != (p.n == 0) || base->n_canaries != n_first || (r == 0 && n_first != 0))
                abort();
        for (size_t i = 0; i < p.n; i++)
                if (!p.items[i].file)
                        abort();
        config_problems_free(&p);
        config_free(base);
        free(text);
        return 0;
}
