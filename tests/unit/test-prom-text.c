/* The /metrics building blocks: the Prometheus text format (escaping, numbers, histograms),
 * status tallies that stay bounded whatever codes arrive, and listening addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "canaryd/listen-address.h"
#include "canaryd/prom-text.h"
#include "canaryd/tally.h"

static void label_values_are_escaped(void **state)
{
        struct buf b = {0};
        (void)state;

        prom_sample(&b, "canaryd_x", (const char *[]){"canary", "a\"b\\c\nd", "k", "v", NULL}, 3);
        prom_sample(&b, "canaryd_y", NULL, 0.25);
        prom_sample(&b, "canaryd_z", NULL, 1e20);
        assert_string_equal(b.data, "canaryd_x{canary=\"a\\\"b\\\\c\\nd\",k=\"v\"} 3\n"
                                    "canaryd_y 0.25\n"
                                    "canaryd_z 1e+20\n");
        buf_free(&b);
}

static void help_is_escaped_and_typed(void **state)
{
        struct buf b = {0};
        (void)state;

        prom_family(&b, "canaryd_x", "gauge", "line\none \\ \"quoted\"");
        assert_string_equal(b.data, "# HELP canaryd_x line\\none \\\\ \"quoted\"\n"
                                    "# TYPE canaryd_x gauge\n");
        buf_free(&b);
}

static void histogram_is_cumulative(void **state)
{
        static const double bounds[] = {0.1, 1, 10};
        struct histogram h;
        struct buf b = {0};
        (void)state;

        histogram_init(&h, bounds, 3);
        histogram_observe(&h, 0.05);
        histogram_observe(&h, 0.5);
        histogram_observe(&h, 0.5);
        histogram_observe(&h, 100);
        histogram_observe(&h, 0.0 / 0.0); /* NaN: not counted */
        prom_histogram(&b, "lag", (const char *[]){"canary", "web", NULL}, &h);
        assert_string_equal(b.data, "lag_bucket{canary=\"web\",le=\"0.1\"} 1\n"
                                    "lag_bucket{canary=\"web\",le=\"1\"} 3\n"
                                    "lag_bucket{canary=\"web\",le=\"10\"} 3\n"
                                    "lag_bucket{canary=\"web\",le=\"+Inf\"} 4\n"
                                    "lag_sum{canary=\"web\"} 101.05\n"
                                    "lag_count{canary=\"web\"} 4\n");
        buf_free(&b);
}

static void tally_stays_bounded(void **state)
{
        struct status_tally t = {0};
        (void)state;

        status_tally_add(&t, 200);
        status_tally_add(&t, 200);
        status_tally_add(&t, 0); /* no answer */
        status_tally_add(&t, -5);
        for (long code = 400; code < 400 + 2 * STATUS_TALLY_MAX; code++)
                status_tally_add(&t, code);
        assert_int_equal(t.n, STATUS_TALLY_MAX);
        assert_int_equal(t.code[0], 200);
        assert_int_equal(t.count[0], 2);
        /* 0, -5, and the codes past the table's size */
        assert_int_equal(t.other, 2 + (2 * STATUS_TALLY_MAX - (STATUS_TALLY_MAX - 1)));
}

static void listen_addresses(void **state)
{
        struct listen_address a;
        const char *why;
        (void)state;

        assert_int_equal(listen_address_parse("127.0.0.1:9464", &a, &why), 0);
        assert_int_equal(a.family, AF_INET);
        assert_int_equal(a.port, 9464);
        assert_null(why);
        assert_int_equal(listen_address_parse("[::1]:80", &a, &why), 0);
        assert_int_equal(a.family, AF_INET6);
        assert_int_equal(a.addr[15], 1);
        assert_int_equal(listen_address_parse(":9464", &a, &why), 0);
        assert_int_equal(a.family, AF_UNSPEC);
        assert_int_equal(listen_address_parse("localhost:1", &a, &why), 0);
        assert_int_equal(a.family, AF_INET);
        assert_int_equal(a.addr[0], 127);

        const char *bad[] = {
            "",           "9464",     "127.0.0.1", "127.0.0.1:", "1.2.3.4:0",      "1.2.3.4:65536",
            "1.2.3.4:9x", "::1:9464", "[::1]9464", "[zz]:1",     "example.com:80", "1.2.3.4:-1",
            "[]:80"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                why = NULL;
                assert_int_equal(listen_address_parse(bad[i], &a, &why), -EINVAL);
                assert_non_null(why);
        }
        assert_int_equal(listen_address_parse(NULL, &a, &why), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(label_values_are_escaped), cmocka_unit_test(help_is_escaped_and_typed),
            cmocka_unit_test(histogram_is_cumulative),  cmocka_unit_test(tally_stays_bounded),
            cmocka_unit_test(listen_addresses),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
