/* The watch codec: lines are reassembled whatever the chunk boundaries, over-long lines are
 * dropped with -EFBIG, and events and lists decode as the API server sends them (WIRE.md §2.4,
 * fixtures/k8s_watch_410_expired_crd.jsonl). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/files.h"
#include "canaryd/util.h"
#include "canaryd/watch-json.h"

/* ---- line collection ---- */

struct lines {
        char *items[32];
        size_t n;
        size_t stop_at; /* return -EINTR for this line number (1-based); 0 = never */
};

static int collect(const char *line, size_t len, void *userdata)
{
        struct lines *l = userdata;
        if (l->stop_at && l->n + 1 == l->stop_at) {
                l->stop_at = 0;
                return -EINTR;
        }
        assert_true(l->n < ELEMENTSOF(l->items));
        assert_null(memchr(line, '\n', len));
        l->items[l->n++] = xstrndup(line, len);
        return 0;
}

static void lines_free(struct lines *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        l->n = 0;
}

static const char STREAM[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"5\"}}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"VirtualService\",\"metadata\":{"
    "\"resourceVersion\":\"7\"}}}\r\n"
    "\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"9\"}}}"
    "\n";

static void check_stream_lines(const struct lines *l)
{
        assert_int_equal(l->n, 3); /* the blank line is skipped */
        assert_non_null(strstr(l->items[0], "\"ADDED\""));
        assert_non_null(strstr(l->items[1], "\"BOOKMARK\""));
        assert_int_not_equal(l->items[1][strlen(l->items[1]) - 1], '\r');
        assert_non_null(strstr(l->items[2], "\"MODIFIED\""));
        assert_int_equal(l->items[2][strlen(l->items[2]) - 1], '}');
}

/* Every way of cutting the stream in two, and byte by byte, gives the same lines. */
static void lines_survive_any_chunking(void **unused)
{
        size_t len = strlen(STREAM);
        for (size_t cut = 0; cut <= len; cut++) {
                struct watch_lines w;
                struct lines l = {0};
                watch_lines_init(&w, 0);
                assert_int_equal(watch_lines_feed(&w, STREAM, cut, collect, &l), 0);
                assert_int_equal(watch_lines_feed(&w, STREAM + cut, len - cut, collect, &l), 0);
                check_stream_lines(&l);
                assert_int_equal(watch_lines_pending(&w), 0);
                lines_free(&l);
                watch_lines_reset(&w);
        }

        struct watch_lines w;
        struct lines l = {0};
        watch_lines_init(&w, 0);
        for (size_t i = 0; i < len; i++)
                assert_int_equal(watch_lines_feed(&w, STREAM + i, 1, collect, &l), 0);
        check_stream_lines(&l);
        lines_free(&l);
        watch_lines_reset(&w);
}

static void partial_line_waits_for_its_newline(void **unused)
{
        struct watch_lines w;
        struct lines l = {0};
        watch_lines_init(&w, 0);
        assert_int_equal(watch_lines_feed(&w, "{\"type\":", 8, collect, &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(watch_lines_pending(&w), 8);
        assert_int_equal(watch_lines_feed(&w, "\"X\"}", 4, collect, &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(watch_lines_feed(&w, "\n{", 2, collect, &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0], "{\"type\":\"X\"}");
        assert_int_equal(watch_lines_pending(&w), 1);
        assert_int_equal(watch_lines_feed(&w, NULL, 0, collect, &l), 0);
        lines_free(&l);
        watch_lines_reset(&w);
        assert_int_equal(watch_lines_pending(&w), 0);
}

static void huge_line_is_capped_and_skipped(void **unused)
{
        struct watch_lines w;
        struct lines l = {0};
        watch_lines_init(&w, 16);

        /* over the cap inside one chunk: that line and the rest of the chunk are dropped */
        assert_int_equal(watch_lines_feed(&w, "ok\n0123456789abcdefXYZ\nafter\n", 29, collect, &l),
                         -EFBIG);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0], "ok");
        assert_int_equal(watch_lines_pending(&w), 0);

        /* over the cap across chunks: later chunks are skipped up to its newline */
        assert_int_equal(watch_lines_feed(&w, "0123456789", 10, collect, &l), 0);
        assert_int_equal(watch_lines_feed(&w, "abcdefghij", 10, collect, &l), -EFBIG);
        assert_int_equal(watch_lines_pending(&w), 0);
        assert_int_equal(watch_lines_feed(&w, "still the same line", 19, collect, &l), 0);
        assert_int_equal(watch_lines_feed(&w, " end\nnext\n", 10, collect, &l), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.items[1], "next");

        /* exactly at the cap is fine */
        assert_int_equal(watch_lines_feed(&w, "0123456789abcdef\n", 17, collect, &l), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.items[2], "0123456789abcdef");
        lines_free(&l);
        watch_lines_reset(&w);
}

static void callback_error_stops_and_keeps_the_partial_line(void **unused)
{
        struct watch_lines w;
        struct lines l = {.stop_at = 2};
        watch_lines_init(&w, 0);
        assert_int_equal(watch_lines_feed(&w, "one\ntw", 6, collect, &l), 0);
        assert_int_equal(watch_lines_feed(&w, "o\nthree\n", 8, collect, &l), -EINTR);
        assert_int_equal(l.n, 1);
        assert_int_equal(watch_lines_pending(&w), 2); /* "tw", as before the failed feed */
        lines_free(&l);
        watch_lines_reset(&w);
}

/* ---- events ---- */

static char *read_fixture(const char *name, size_t *ret_len)
{
        const char *dir = getenv("CANARYD_FIXTURES");
        char *path = xasprintf("%s/%s", dir ? dir : "fixtures", name);
        char *text = NULL;
        assert_int_equal(read_file(path, 1 << 20, &text, ret_len), 0);
        free(path);
        return text;
}

static void expired_fixture_decodes_as_410(void **unused)
{
        size_t len;
        char *text = read_fixture("k8s_watch_410_expired_crd.jsonl", &len);
        struct watch_lines w;
        struct lines l = {0};
        watch_lines_init(&w, 0);
        assert_int_equal(watch_lines_feed(&w, text, len, collect, &l), 0);
        assert_int_equal(l.n, 1);

        struct watch_event ev;
        char *err = NULL;
        assert_int_equal(watch_event_decode(l.items[0], strlen(l.items[0]), &ev, &err), 0);
        assert_int_equal(ev.type, WATCH_ERROR);
        assert_int_equal(ev.code, 410);
        assert_string_equal(ev.reason, "Expired");
        assert_non_null(strstr(ev.message, "too old resource version"));
        assert_string_equal(ev.object.resource_version, "");
        assert_non_null(strstr(ev.object.json, "\"kind\":\"Status\""));
        watch_event_done(&ev);
        lines_free(&l);
        watch_lines_reset(&w);
        free(text);
}

static void events_decode(void **unused)
{
        static const struct {
                const char *line;
                enum watch_event_type type;
                const char *rv, *name;
        } cases[] = {
            {"{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
             "\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"101\"},"
             "\"spec\":{\"replicas\":2}}}",
             WATCH_ADDED, "101", "web"},
            {"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"vs\","
             "\"resourceVersion\":\"102\"}}}",
             WATCH_MODIFIED, "102", "vs"},
            {"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"vs\","
             "\"resourceVersion\":\"103\"}}}",
             WATCH_DELETED, "103", "vs"},
            /* a bookmark holds only apiVersion, kind and metadata.resourceVersion */
            {"{\"type\":\"BOOKMARK\",\"object\":{\"apiVersion\":\"networking.istio.io/v1\","
             "\"kind\":\"VirtualService\",\"metadata\":{\"resourceVersion\":\"12345\"}}}",
             WATCH_BOOKMARK, "12345", ""},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct watch_event ev;
                char *err = NULL;
                assert_int_equal(
                    watch_event_decode(cases[i].line, strlen(cases[i].line), &ev, &err), 0);
                assert_int_equal(ev.type, cases[i].type);
                assert_string_equal(ev.object.resource_version, cases[i].rv);
                assert_string_equal(ev.object.name, cases[i].name);
                assert_int_equal(ev.object.len, strlen(ev.object.json));
                assert_true(ev.object.json[0] == '{');
                watch_event_done(&ev);
        }
        struct watch_event ev;
        const char *line = cases[0].line;
        assert_int_equal(watch_event_decode(line, strlen(line), &ev, NULL), 0);
        assert_string_equal(ev.object.namespace_, "shop");
        assert_non_null(strstr(ev.object.json, "\"replicas\":2"));
        watch_event_done(&ev);
}

static void bad_events_are_errors(void **unused)
{
        static const char *const bad[] = {
            "",
            "not json",
            "[]",
            "{\"object\":{}}",
            "{\"type\":\"SYNC\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}",
            "{\"type\":\"ADDED\"}",
            "{\"type\":\"ADDED\",\"object\":[]}",
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}",
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"\"}}}",
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":5}}}",
            "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":\"x\"}}",
            "{\"type\":\"ERROR\",\"object\":null}",
            "{\"type\":7,\"object\":{}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct watch_event ev = {.code = 99};
                char *err = NULL;
                assert_int_equal(watch_event_decode(bad[i], strlen(bad[i]), &ev, &err), -EBADMSG);
                assert_non_null(err);
                assert_true(*err != '\0');
                assert_int_equal(ev.code, 99); /* untouched */
                free(err);
        }
        /* an over-long resourceVersion is refused: it goes into the next URL */
        char *line = xasprintf("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
                               "\"resourceVersion\":\"%0*d\"}}}",
                               WATCH_RV_MAX + 1, 1);
        struct watch_event ev;
        assert_int_equal(watch_event_decode(line, strlen(line), &ev, NULL), -EBADMSG);
        free(line);
}

static void lists_decode(void **unused)
{
        static const char list[] =
            "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"VirtualServiceList\","
            "\"metadata\":{\"continue\":\"\",\"resourceVersion\":\"2041\"},\"items\":["
            "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"VirtualService\","
            "\"metadata\":{\"name\":\"checkout\",\"namespace\":\"shop\",\"resourceVersion\":"
            "\"2001\"},\"spec\":{}},"
            "{\"metadata\":{\"name\":\"search\",\"namespace\":\"shop\"}}]}\n";
        struct watch_list l;
        char *err = NULL;
        assert_int_equal(watch_list_decode(list, strlen(list), &l, &err), 0);
        assert_string_equal(l.resource_version, "2041");
        assert_int_equal(l.n_items, 2);
        assert_string_equal(l.items[0].name, "checkout");
        assert_string_equal(l.items[0].namespace_, "shop");
        assert_string_equal(l.items[0].resource_version, "2001");
        assert_string_equal(l.items[1].resource_version, "");
        assert_non_null(strstr(l.items[0].json, "\"spec\":{}"));
        watch_list_done(&l);

        static const char empty[] = "{\"kind\":\"DeploymentList\",\"metadata\":{"
                                    "\"resourceVersion\":\"7\"},\"items\":null}";
        assert_int_equal(watch_list_decode(empty, strlen(empty), &l, &err), 0);
        assert_int_equal(l.n_items, 0);
        assert_string_equal(l.resource_version, "7");
        watch_list_done(&l);

        static const char *const bad[] = {
            "{}",
            "{\"metadata\":{},\"items\":[]}",
            "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":{}}",
            "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[1]}",
            "{\"kind\":\"Status\",\"code\":410}",
            "[",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(watch_list_decode(bad[i], strlen(bad[i]), &l, &err), -EBADMSG);
                assert_non_null(err);
                free(err);
                err = NULL;
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(lines_survive_any_chunking),
            cmocka_unit_test(partial_line_waits_for_its_newline),
            cmocka_unit_test(huge_line_is_capped_and_skipped),
            cmocka_unit_test(callback_error_stops_and_keeps_the_partial_line),
            cmocka_unit_test(expired_fixture_decodes_as_410),
            cmocka_unit_test(events_decode),
            cmocka_unit_test(bad_events_are_errors),
            cmocka_unit_test(lists_decode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
