/* Tests for Slack: slack_render output (parsed back with cJSON) and the delivery queue of
 * src/io/slack.c on a real sd-event loop against a scripted loopback HTTP server (one thread,
 * one connection per request, answers in script order and records what it received). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "canaryd/files.h"
#include "canaryd/http.h"
#include "canaryd/rollout.h"
#include "canaryd/slack.h"
#include "canaryd/util.h"
#include "fake-http.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static size_t utf8_chars(const char *s)
{
        size_t n = 0;

        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        n++;
        return n;
}

static struct metric_report metric(const char *name, double c, double b, enum verdict v)
{
        struct metric_report m = {.judge = JUDGE_RATIO,
                                  .canary = c,
                                  .baseline = b,
                                  .n_canary = 30,
                                  .n_baseline = 31,
                                  .verdict = v};

        snprintf(m.name, sizeof(m.name), "%s", name);
        snprintf(m.detail, sizeof(m.detail), "ratio %.3g > 1.2", c / b);
        return m;
}

static cJSON *render_parse(const struct slack_notice *n, const char *channel)
{
        char *s = slack_render(n, channel);
        cJSON *root;

        assert_non_null(s);
        root = cJSON_Parse(s);
        free(s);
        assert_non_null(root);
        return root;
}

static const char *text_of(const cJSON *root)
{
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text");

        assert_true(cJSON_IsString(t));
        return t->valuestring;
}

/* The whole payload as one string, to look for things anywhere in the blocks. */
static char *flat(const cJSON *root)
{
        char *s = cJSON_PrintUnformatted(root), *out = xstrdup(s);

        cJSON_free(s);
        return out;
}

static void check_limits(const cJSON *root)
{
        const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks"), *b;
        const cJSON *hdr;

        assert_true(cJSON_IsArray(blocks));
        assert_true(cJSON_GetArraySize(blocks) <= 50);
        hdr = cJSON_GetArrayItem(blocks, 0);
        assert_string_equal(cJSON_GetObjectItem(hdr, "type")->valuestring, "header");
        hdr = cJSON_GetObjectItem(hdr, "text");
        assert_string_equal(cJSON_GetObjectItem(hdr, "type")->valuestring, "plain_text");
        assert_true(utf8_chars(cJSON_GetObjectItem(hdr, "text")->valuestring) <= 150);
        cJSON_ArrayForEach (b, blocks) {
                const cJSON *fields = cJSON_GetObjectItem(b, "fields");

                if (fields)
                        assert_true(cJSON_GetArraySize(fields) <= 10);
        }
}

/* ---- render tests --------------------------------------------------------------------------- */

static void render_rollback_names_everything(void **state)
{
        struct metric_report m[2] = {metric("error-rate", 0.001, 0.001, VERDICT_PASS),
                                     metric("latency-p99", 1.23456789, 0.5, VERDICT_FAIL)};
        struct slack_notice n = {.canary = "search",
                                 .namespace_ = "shop",
                                 .event = "rolled back",
                                 .weight = 0,
                                 .step = 2,
                                 .n_steps = 5,
                                 .revision = "abc123",
                                 .runbook_url = "https://wiki.example.com/search?a=1&b=2",
                                 .metrics = m,
                                 .n_metrics = 2};
        cJSON *root = render_parse(&n, "#releases");
        char *all = flat(root);

        assert_string_equal(text_of(root), "search (shop): rolled back at 0% \u2014 latency-p99 "
                                           "failed");
        assert_string_equal(cJSON_GetObjectItem(root, "channel")->valuestring, "#releases");
        check_limits(root);
        /* header + bar + facts + metric table + failure details + runbook */
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "blocks")), 6);
        assert_non_null(strstr(all, "<https://wiki.example.com/search?a=1&amp;b=2|"));
        assert_non_null(strstr(all, " 1.235 ")); /* %.4g */
        assert_non_null(strstr(all, "step 2/5"));
        assert_non_null(strstr(all, "`\u2591\u2591")); /* the progress bar, empty at 0% */
        assert_non_null(strstr(all, "`abc123`"));
        assert_non_null(strstr(all, "latency-p99"));
        assert_null(strstr(all, "Re-sent"));
        free(all);
        cJSON_Delete(root);
}

static void render_runbook_only_on_failures(void **state)
{
        static const char *const events[] = {"started",     "progressed", "analysis failed",
                                             "paused",      "resumed",    "promoted",
                                             "rolled back", "aborted",    "drift"};
        static const bool failure[] = {false, false, true, true, false, false, true, true, true};

        for (size_t i = 0; i < ELEMENTSOF(events); i++) {
                struct slack_notice n = {.canary = "cart-api",
                                         .namespace_ = "cart",
                                         .event = events[i],
                                         .weight = 25,
                                         .step = 3,
                                         .n_steps = 5,
                                         .runbook_url = "https://rb.example/x"};
                cJSON *root = render_parse(&n, NULL);
                char *all = flat(root);
                char *want = xasprintf("cart-api (cart): %s at 25%%", events[i]);

                assert_string_equal(text_of(root), want);
                assert_null(cJSON_GetObjectItem(root, "channel"));
                check_limits(root);
                if (failure[i])
                        assert_non_null(strstr(all, "https://rb.example/x"));
                else
                        assert_null(strstr(all, "https://rb.example/x"));
                free(want);
                free(all);
                cJSON_Delete(root);
        }
}

static void render_escapes_user_text(void **state)
{
        struct slack_notice n = {.canary = "a<!channel>&b",
                                 .namespace_ = "ns",
                                 .event = "aborted",
                                 .weight = 0,
                                 .actor = "uid 1000 <x>",
                                 .reason = "bad > worse",
                                 .n_steps = 3};
        cJSON *root = render_parse(&n, NULL);
        char *all = flat(root);

        assert_string_equal(text_of(root),
                            "a&lt;!channel&gt;&amp;b (ns): aborted at 0% \u2014 bad &gt; worse");
        /* Raw only in the header, which is plain_text (Slack shows it literally there). */
        assert_non_null(strstr(all, "\"plain_text\",\"text\":\":octagonal_sign: a<!channel>&b"));
        assert_null(strstr(strstr(all, "<!channel>") + 1, "<!channel>"));
        assert_non_null(strstr(all, "uid 1000 &lt;x&gt;"));
        /* No runbook configured: no runbook block even on a failure. */
        assert_null(strstr(all, "Runbook"));
        free(all);
        cJSON_Delete(root);
}

static void render_truncates_long_and_invalid_text(void **state)
{
        struct buf b = {0};
        char *canary;
        cJSON *root;

        for (int i = 0; i < 200; i++)
                buf_puts(&b, "\u00e9"); /* 2 bytes, 1 character */
        canary = buf_steal(&b);
        struct slack_notice n = {.canary = canary,
                                 .namespace_ = "ns",
                                 .event = "promoted",
                                 .weight = 100,
                                 .reason = "bad \xff\xfe utf8 \xc3"};
        root = render_parse(&n, NULL); /* broken bytes were replaced: it parses */
        check_limits(root);
        assert_non_null(strstr(text_of(root), "\ufffd"));
        free(canary);
        cJSON_Delete(root);
}

static void render_caps_blocks_and_keeps_failures(void **state)
{
        struct metric_report m[60];
        cJSON *root, *blocks;
        char *all;

        for (int i = 0; i < 60; i++) {
                char name[32];

                snprintf(name, sizeof(name), "metric-%02d", i);
                m[i] = metric(name, 1, 1, i == 59 ? VERDICT_FAIL : VERDICT_PASS);
        }
        m[10].canary = NAN;
        struct slack_notice n = {.canary = "c",
                                 .namespace_ = "n",
                                 .event = "paused",
                                 .runbook_url = "https://rb",
                                 .metrics = m,
                                 .n_metrics = 60,
                                 .resend = 1};
        root = render_parse(&n, NULL);
        all = flat(root);
        check_limits(root);
        blocks = cJSON_GetObjectItem(root, "blocks");
        assert_true(cJSON_GetArraySize(blocks) <= 50);
        assert_non_null(strstr(all, "metric-59")); /* the failure comes first in the table */
        assert_true(strstr(all, "metric-59") < strstr(all, "metric-00"));
        assert_non_null(strstr(all, " n/a "));
        /* Last block is the re-send marker. */
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(blocks, cJSON_GetArraySize(blocks) - 1), "type")
                ->valuestring,
            "context");
        assert_non_null(strstr(text_of(root), "re-sent"));
        free(all);
        cJSON_Delete(root);
}

static void parse_post_response_fixture(void **state)
{
        char *body, *ts = NULL, *err = NULL, *p;
        size_t len;
        const char *dir = getenv("CANARYD_FIXTURES");
        char *path =
            xasprintf("%s/slack_chat_postMessage_response_ok.json", dir ? dir : "fixtures");
        cJSON *root;

        assert_int_equal(read_file(path, 1 << 20, &body, &len), 0);
        assert_int_equal(slack_parse_post_response(body, len, &ts, &err), 0);
        assert_string_equal(ts, "1503435956.000247");
        free(ts);
        free(body);
        free(path);

        assert_int_equal(slack_parse_post_response("{\"ok\":false,\"error\":\"channel_not_found\"}",
                                                   40, &ts, &err),
                         -EREMOTEIO);
        assert_string_equal(err, "channel_not_found");
        free(err);
        assert_int_equal(
            slack_parse_post_response("<html>Server Error | Slack</html>", 33, &ts, &err),
            -EBADMSG);
        assert_int_equal(slack_parse_post_response("", 0, &ts, &err), -EBADMSG);
        assert_int_equal(slack_parse_post_response("{\"ok\":\"yes\"}", 12, &ts, &err), -EBADMSG);

        p = slack_payload_set_channel("{\"text\":\"x\"}", "#c");
        root = cJSON_Parse(p);
        assert_string_equal(cJSON_GetObjectItem(root, "channel")->valuestring, "#c");
        cJSON_Delete(root);
        free(p);
        p = slack_payload_set_channel("{\"channel\":\"#keep\"}", "#c");
        assert_string_equal(p, "{\"channel\":\"#keep\"}");
        free(p);
        assert_null(slack_payload_set_channel("[1]", "#c"));
        assert_null(slack_payload_set_channel("nope", "#c"));
}

/* ---- queue tests ---------------------------------------------------------------------------- */

struct drops {
        size_t n;
        char keys[8][64];
        char reasons[8][256];
};

static void on_failed(const char *key, const char *reason, void *ud)
{
        struct drops *d = ud;

        if (d->n < 8) {
                snprintf(d->keys[d->n], sizeof(d->keys[0]), "%s", key ? key : "(null)");
                snprintf(d->reasons[d->n], sizeof(d->reasons[0]), "%s", reason);
        }
        d->n++;
}

struct env {
        sd_event *event;
        struct http_client *http;
        struct slack_client *slack;
        struct fake fake;
        struct drops drops;
        char *url;
};

static void env_start(struct env *e, const struct fake_resp *script, size_t n,
                      struct slack_settings *s, const char *path)
{
        *e = (struct env){0};
        fake_start(&e->fake, script, n);
        e->url = xasprintf("http://127.0.0.1:%d%s", e->fake.port, path);
        if (s->token)
                s->api_base_url = e->url;
        else
                s->webhook_url = e->url;
        assert_int_equal(sd_event_new(&e->event), 0);
        assert_int_equal(http_client_new(e->event, &e->http), 0);
        assert_int_equal(slack_client_new(e->event, e->http, s, &e->slack), 0);
        slack_set_failed_callback(e->slack, on_failed, &e->drops);
}

static void env_stop(struct env *e)
{
        e->slack = slack_client_free(e->slack);
        e->http = http_client_free(e->http);
        e->event = sd_event_unref(e->event);
        fake_stop(&e->fake);
        free(e->url);
}

/* Runs the loop until the queue is empty (fails after 8 s). */
static void drain(struct env *e)
{
        usec_t deadline = fake_mono_usec() + 8 * USEC_PER_SEC;

        while (slack_queue_length(e->slack) > 0) {
                assert_true(fake_mono_usec() < deadline);
                assert_true(sd_event_run(e->event, 50 * USEC_PER_MSEC) >= 0);
        }
}

static void enqueue(struct env *e, const char *text, const char *key, int want)
{
        assert_int_equal(slack_enqueue(e->slack, xasprintf("{\"text\":\"%s\"}", text), key), want);
}

static void queue_paces_one_per_second(void **state)
{
        struct slack_settings s = {.timeout_ms = 2000};
        struct env e;

        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        enqueue(&e, "A", "c/r/started/1", 0);
        enqueue(&e, "B", "c/r/progressed/2", 0);
        enqueue(&e, "C", "c/r/progressed/3", 0);
        enqueue(&e, "B again", "c/r/progressed/2", -EEXIST); /* queued: not twice */
        assert_int_equal(slack_queue_length(e.slack), 3);
        assert_int_equal(fake_count(&e.fake), 0); /* enqueue never sends by itself */
        drain(&e);

        assert_int_equal(fake_count(&e.fake), 3);
        assert_string_equal(e.fake.reqs[0].body, "{\"text\":\"A\"}");
        assert_string_equal(e.fake.reqs[1].body, "{\"text\":\"B\"}");
        assert_string_equal(e.fake.reqs[2].body, "{\"text\":\"C\"}");
        assert_non_null(strstr(e.fake.reqs[0].head, "POST /services/T0/B0/secret HTTP/1.1"));
        assert_non_null(strcasestr(e.fake.reqs[0].head, "\r\nContent-Type: application/json\r\n"));
        /* Paced: at least ~1 s between sends (loose bound: ordering, not tight timing). */
        assert_true(e.fake.reqs[1].at - e.fake.reqs[0].at >= 900 * USEC_PER_MSEC);
        assert_true(e.fake.reqs[2].at - e.fake.reqs[1].at >= 900 * USEC_PER_MSEC);
        assert_true(e.fake.reqs[2].at - e.fake.reqs[0].at >= 1900 * USEC_PER_MSEC);
        assert_int_equal(slack_delivered_count(e.slack), 3);
        assert_int_equal(e.drops.n, 0);
        /* Delivered keys are remembered. */
        enqueue(&e, "A again", "c/r/started/1", -EEXIST);
        assert_int_equal(slack_queue_length(e.slack), 0);
        env_stop(&e);
}

static void queue_retries_and_drops(void **state)
{
        static const struct fake_resp script[] = {
            {429, "Retry-After: 1\r\n", ""},                  /* A: rate limited */
            {200, NULL, "ok"},                                /* A */
            {500, NULL, "rollup_error"},                      /* B: retried */
            {200, NULL, "ok"},                                /* B */
            {400, NULL, "invalid_payload"},                   /* C: permanent */
            {503, NULL, "<html>Server Error | Slack</html>"}, /* D x6: dropped */
            {500, NULL, "x"},
            {500, NULL, "x"},
            {500, NULL, "x"},
            {500, NULL, "x"},
            {500, NULL, "x"},
            {200, NULL, "ok"}, /* C again: its key was forgotten on the drop */
        };
        struct slack_settings s = {.timeout_ms = 2000,
                                   .pace_usec = 10 * USEC_PER_MSEC,
                                   .backoff_base_usec = 10 * USEC_PER_MSEC};
        struct env e;

        env_start(&e, script, ELEMENTSOF(script), &s, "/hook");
        enqueue(&e, "A", "k/A", 0);
        enqueue(&e, "B", "k/B", 0);
        enqueue(&e, "C", "k/C", 0);
        enqueue(&e, "D", "k/D", 0);
        enqueue(&e, "B2", "k/B", -EEXIST);
        drain(&e);

        assert_int_equal(fake_count(&e.fake), 11);
        assert_string_equal(e.fake.reqs[0].body, "{\"text\":\"A\"}");
        assert_string_equal(e.fake.reqs[1].body, "{\"text\":\"A\"}");
        assert_true(e.fake.reqs[1].at - e.fake.reqs[0].at >= 900 * USEC_PER_MSEC); /* Retry-After */
        assert_string_equal(e.fake.reqs[2].body, "{\"text\":\"B\"}");
        assert_string_equal(e.fake.reqs[3].body, "{\"text\":\"B\"}");
        assert_string_equal(e.fake.reqs[4].body, "{\"text\":\"C\"}");
        for (int i = 5; i < 11; i++)
                assert_string_equal(e.fake.reqs[i].body, "{\"text\":\"D\"}");
        /* Backoff doubles: the 6th attempt of D waits longer than the 2nd. */
        assert_true(e.fake.reqs[10].at - e.fake.reqs[9].at > e.fake.reqs[6].at - e.fake.reqs[5].at);

        assert_int_equal(slack_delivered_count(e.slack), 2);
        assert_int_equal(slack_dropped_count(e.slack), 2);
        assert_int_equal(e.drops.n, 2);
        assert_string_equal(e.drops.keys[0], "k/C");
        assert_non_null(strstr(e.drops.reasons[0], "HTTP 400: invalid_payload"));
        assert_non_null(strstr(e.drops.reasons[0], "after 1 attempt"));
        assert_string_equal(e.drops.keys[1], "k/D");
        assert_non_null(strstr(e.drops.reasons[1], "HTTP 500"));
        assert_non_null(strstr(e.drops.reasons[1], "after 6 attempts"));

        /* A dropped key may be queued again; a delivered one may not. */
        enqueue(&e, "C", "k/C", 0);
        enqueue(&e, "A", "k/A", -EEXIST);
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 12);
        assert_int_equal(slack_delivered_count(e.slack), 3);
        env_stop(&e);
}

static void queue_token_mode(void **state)
{
        static const struct fake_resp script[] = {
            {200, "Content-Type: application/json\r\n", "{\"ok\":true,\"ts\":\"1.000200\"}"},
            {429, "Retry-After: 0\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}"},
            {200, NULL, "{\"ok\":false,\"error\":\"channel_not_found\"}"},
            {200, NULL, "<html>proxy</html>"},            /* not an API answer: may have landed */
            {200, NULL, "{\"ok\":true,\"messages\":[]}"}, /* history: it did not */
            {200, NULL, "{\"ok\":true,\"ts\":\"2.5\"}"},
        };
        struct slack_settings s = {.token = "xoxb-secret-token",
                                   .channel = "#releases",
                                   .timeout_ms = 2000,
                                   .pace_usec = 10 * USEC_PER_MSEC,
                                   .backoff_base_usec = 10 * USEC_PER_MSEC};
        struct env e;
        cJSON *body;

        env_start(&e, script, ELEMENTSOF(script), &s, "/api/");
        enqueue(&e, "one", "t/1", 0);
        enqueue(&e, "two", "t/2", 0);
        enqueue(&e, "three", NULL, 0);
        assert_int_equal(slack_enqueue(e.slack, xstrdup("not json"), "t/4"), -EINVAL);
        drain(&e);

        assert_int_equal(fake_count(&e.fake), 6);
        assert_non_null(strstr(e.fake.reqs[0].head, "POST /api/chat.postMessage HTTP/1.1"));
        assert_non_null(strcasestr(e.fake.reqs[0].head, "\r\nAuthorization: Bearer "
                                                        "xoxb-secret-token\r\n"));
        assert_non_null(strcasestr(e.fake.reqs[0].head,
                                   "\r\nContent-Type: application/json; charset=utf-8\r\n"));
        body = cJSON_Parse(e.fake.reqs[0].body);
        assert_string_equal(cJSON_GetObjectItem(body, "channel")->valuestring, "#releases");
        assert_string_equal(cJSON_GetObjectItem(body, "text")->valuestring, "one");
        cJSON_Delete(body);
        /* two: 429 then ok:false channel_not_found (permanent). three: HTML, then ok. */
        assert_non_null(strstr(e.fake.reqs[1].body, "two"));
        assert_non_null(strstr(e.fake.reqs[2].body, "two"));
        assert_non_null(strstr(e.fake.reqs[3].body, "three"));
        assert_non_null(strstr(e.fake.reqs[4].head, "POST /api/conversations.history HTTP/1.1"));
        assert_non_null(strstr(e.fake.reqs[4].body, "include_all_metadata=true"));
        assert_non_null(strstr(e.fake.reqs[5].body, "three"));
        assert_int_equal(e.drops.n, 1);
        assert_string_equal(e.drops.keys[0], "t/2");
        assert_non_null(strstr(e.drops.reasons[0], "channel_not_found"));
        assert_null(strstr(e.drops.reasons[0], "xoxb"));
        assert_string_equal(slack_last_ts(e.slack), "2.5");
        assert_int_equal(slack_delivered_count(e.slack), 2);
        env_stop(&e);
}

static void queue_transport_errors_dropped_without_secrets(void **state)
{
        struct slack_settings s = {.timeout_ms = 1000,
                                   .pace_usec = 5 * USEC_PER_MSEC,
                                   .backoff_base_usec = 5 * USEC_PER_MSEC};
        struct env e;
        char *dead;
        int fd, port;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);

        /* A port nobody listens on. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        port = ntohs(a.sin_port);
        close(fd);

        env_start(&e, NULL, 0, &s, "/unused");
        slack_client_free(e.slack);
        dead = xasprintf("http://127.0.0.1:%d/services/T/B/very-secret", port);
        s.webhook_url = dead;
        assert_int_equal(slack_client_new(e.event, e.http, &s, &e.slack), 0);
        slack_set_failed_callback(e.slack, on_failed, &e.drops);
        enqueue(&e, "lost", "x/1", 0);
        drain(&e);
        assert_int_equal(e.drops.n, 1);
        assert_non_null(strstr(e.drops.reasons[0], "transport error"));
        assert_non_null(strstr(e.drops.reasons[0], "after 6 attempts"));
        assert_null(strstr(e.drops.reasons[0], "very-secret"));
        free(dead);
        env_stop(&e);
}

static void queue_free_with_request_in_flight(void **state)
{
        struct slack_settings s = {.timeout_ms = 2000};
        struct env e;

        env_start(&e, NULL, 0, &s, "/hook");
        enqueue(&e, "A", "f/1", 0);
        enqueue(&e, "B", "f/2", 0);
        for (int i = 0; i < 100 && http_client_in_flight(e.http) == 0; i++)
                assert_true(sd_event_run(e.event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(http_client_in_flight(e.http), 1);
        e.slack = slack_client_free(e.slack); /* the request outlives the client */
        for (int i = 0; i < 200 && http_client_in_flight(e.http) > 0; i++)
                assert_true(sd_event_run(e.event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(http_client_in_flight(e.http), 0);
        env_stop(&e);
}

static void client_new_rejects_bad_settings(void **state)
{
        sd_event *ev;
        struct http_client *http;
        struct slack_client *c = NULL;
        struct slack_settings none = {0};
        struct slack_settings token_no_channel = {.token = "xoxb"};
        struct slack_settings crlf = {.token = "xoxb\r\nX: y", .channel = "#c"};

        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(http_client_new(ev, &http), 0);
        assert_int_equal(slack_client_new(ev, http, &none, &c), -EINVAL);
        assert_int_equal(slack_client_new(ev, http, &token_no_channel, &c), -EINVAL);
        assert_int_equal(slack_client_new(ev, http, &crlf, &c), -EINVAL);
        assert_null(c);
        http_client_free(http);
        sd_event_unref(ev);
}

/* ---- golden messages: one per SPEC §6 event, and the thread's parent ------------------------ */

/* A fixed canary configuration for thresholds and Datadog links. */
static struct metric_config golden_metrics[2];
static struct canary_config golden_cfg;

static char n_error_rate[] = "error-rate", n_latency[] = "latency-p99", n_cart[] = "cart-api",
            n_ns[] = "cart", s_canary[] = "kube_deployment:cart-api-canary",
            s_baseline[] = "kube_deployment:cart-api-stable",
            q_errors[] = "avg:trace.http.request.errors{service:cart,{{scope}}}",
            q_latency[] = "p99:trace.http.request.duration{service:cart,{{scope}}}";

static void golden_setup(void)
{
        golden_metrics[0] = (struct metric_config){
            .name = n_error_rate,
            .query = q_errors,
            .judge = JUDGE_THRESHOLD,
            .min = NAN,
            .max = 0.01,
            .min_ratio = NAN,
            .max_ratio = NAN,
            .critical = true,
        };
        golden_metrics[1] = (struct metric_config){
            .name = n_latency,
            .query = q_latency,
            .judge = JUDGE_RATIO,
            .min = NAN,
            .max = NAN,
            .min_ratio = NAN,
            .max_ratio = 1.2,
        };
        golden_cfg = (struct canary_config){
            .name = n_cart,
            .namespace_ = n_ns,
            .scope_canary = s_canary,
            .scope_baseline = s_baseline,
            .metrics = golden_metrics,
            .n_metrics = 2,
        };
}

struct golden_case {
        const char *file, *event, *phase, *reason, *actor;
        unsigned weight, step;
        int metrics; /* 0 none, 1 passing, 2 latency failed */
        bool runbook;
        bool buttons, approval; /* Slack interactivity; the rollout waits for approval */
};

static const struct golden_case golden_cases[] = {
    {"started", "started", "Progressing", "", "uid:1000", 5, 1, 0, false, false, false},
    {"progressed", "progressed", "Progressing", "analysis passed", NULL, 25, 3, 1, false, false,
     false},
    {"analysis-failed", "analysis failed", "Progressing",
     "latency-p99 failed: ratio 1.5 > 1.2 (1 of 2 failures allowed)", NULL, 25, 3, 2, true, false,
     false},
    {"paused", "paused", "Paused", "inconclusive 4 times in a row", NULL, 25, 3, 1, true, false,
     false},
    {"resumed", "resumed", "Progressing", "resumed by hand", "uid:1000", 25, 3, 0, false, false,
     false},
    {"promoted", "promoted", "Promoted", "analysis passed", NULL, 100, 5, 1, false, false, false},
    {"rolled-back", "rolled back", "RolledBack", "critical metric failed: latency-p99", NULL, 0, 3,
     2, true, false, false},
    {"aborted", "aborted", "RolledBack", "pager fired", "uid:1000", 0, 2, 0, true, false, false},
    {"drift", "drift", "Paused", "weights changed outside canaryd: canary at 40%, expected 25%",
     NULL, 25, 3, 0, true, false, false},
    {"awaiting-approval", "awaiting approval", "Progressing",
     "analysis passed; awaiting approval (pauses after 4h)", NULL, 50, 4, 1, true, true, true},
};

static void golden_notice(const struct golden_case *g, struct metric_report m[2],
                          struct slack_notice *n)
{
        m[0] = metric("error-rate", 0.0021, 0.0019, VERDICT_PASS);
        m[0].judge = JUDGE_THRESHOLD;
        snprintf(m[0].detail, sizeof(m[0].detail), "avg 0.0021 <= 0.01");
        m[1] = metric("latency-p99", g->metrics == 2 ? 0.45 : 0.31, 0.30,
                      g->metrics == 2 ? VERDICT_FAIL : VERDICT_PASS);
        *n = (struct slack_notice){
            .canary = "cart-api",
            .namespace_ = "cart",
            .event = g->event,
            .phase = g->phase,
            .weight = g->weight,
            .step = g->step,
            .n_steps = 5,
            .revision = "7d9f2c",
            .reason = g->reason,
            .actor = g->actor,
            .runbook_url = g->runbook ? "https://wiki.example.com/oncall/cart-api" : NULL,
            .at_usec = 1795320000 * USEC_PER_SEC,
            .window_start_usec = g->metrics ? 1795319700 * USEC_PER_SEC : 0,
            .window_end_usec = g->metrics ? 1795319970 * USEC_PER_SEC : 0,
            .metrics = g->metrics ? m : NULL,
            .n_metrics = g->metrics ? 2 : 0,
            .cfg = &golden_cfg,
            .datadog_site = "datadoghq.eu",
            .buttons = g->buttons,
            .approval = g->approval,
        };
}

/* Compares with tests/data/slack/NAME.json (pretty-printed, so that a diff reads well);
 * CANARYD_UPDATE_GOLDEN=1 rewrites the file instead. */
static void check_golden(const char *name, const char *json)
{
        char *path = xasprintf("slack/%s.json", name), *want = NULL, *got;
        cJSON *root = cJSON_Parse(json);
        size_t len;

        assert_non_null(root);
        check_limits(root);
        got = cJSON_Print(root);
        cJSON_Delete(root);
        if (getenv("CANARYD_UPDATE_GOLDEN")) {
                FILE *f = fopen(path, "w");

                assert_non_null(f);
                fprintf(f, "%s\n", got);
                fclose(f);
        }
        assert_int_equal(read_file(path, 1 << 20, &want, &len), 0);
        if (len > 0 && want[len - 1] == '\n')
                want[len - 1] = '\0';
        if (strcmp(want, got) != 0)
                fprintf(stderr, "golden %s differs; got:\n%s\n", path, got);
        assert_string_equal(want, got);
        free(want);
        cJSON_free(got);
        free(path);
}

/* With report_url set, every message that links the runbook links the rollout report too, in
 * the message and in the thread parent; routine messages do not. */
static void render_report_link_on_failures(void **state)
{
        (void)state;
        golden_setup();
        for (size_t i = 0; i < ELEMENTSOF(golden_cases); i++) {
                const struct golden_case *g = &golden_cases[i];
                struct metric_report m[2];
                struct slack_notice n;

                golden_notice(g, m, &n);
                n.report_url = "https://reports.example.com/cart-api/1795319000000000.html";
                char *json = slack_render(&n, NULL), *parent = slack_render_summary(&n);
                bool want = g->runbook;
                assert_true(!!strstr(json, "*Report:* <https://reports.example.com/cart-api/"
                                           "1795319000000000.html|") == want);
                assert_true(!!strstr(parent, "*Report:*") == want);
                free(json);
                free(parent);
        }
}

static void render_golden_every_event(void **state)
{
        golden_setup();
        for (size_t i = 0; i < ELEMENTSOF(golden_cases); i++) {
                const struct golden_case *g = &golden_cases[i];
                struct metric_report m[2];
                struct slack_notice n;
                char *json, *text;

                golden_notice(g, m, &n);
                json = slack_render(&n, NULL);
                assert_non_null(json);
                /* the fallback names canary, namespace, event and weight */
                text = xasprintf("cart-api (cart): %s at %u%%", g->event, g->weight);
                assert_non_null(strstr(json, text));
                free(text);
                /* the runbook on every failure, abort, pause and drift message, only there */
                assert_true(!!strstr(json, "wiki.example.com/oncall") == g->runbook);
                if (g->metrics)
                        assert_non_null(strstr(json, "https://app.datadoghq.eu/metric/explorer?"));
                check_golden(g->file, json);
                free(json);
        }
}

static void render_golden_parent(void **state)
{
        static const struct golden_case *steps[] = {&golden_cases[0], &golden_cases[1],
                                                    &golden_cases[6]};
        char *lines[3];
        char *summary, *json;

        golden_setup();
        for (size_t i = 0; i < 3; i++) {
                struct metric_report m[2];
                struct slack_notice n;

                golden_notice(steps[i], m, &n);
                n.at_usec += i * 300 * USEC_PER_SEC;
                lines[i] = slack_timeline_line(&n);
        }
        {
                struct metric_report m[2];
                struct slack_notice n;

                golden_notice(&golden_cases[6], m, &n);
                summary = slack_render_summary(&n);
        }
        json = slack_summary_with_timeline(summary, (const char *const *)lines, 3);
        assert_non_null(json);
        assert_non_null(strstr(json, "cart-api (cart): RolledBack"));
        assert_non_null(strstr(json, "*Timeline*"));
        check_golden("parent", json);
        free(json);
        free(summary);
        for (size_t i = 0; i < 3; i++)
                free(lines[i]);
}

static void payload_prepare_and_find_key(void **state)
{
        char *p = slack_payload_prepare("{\"text\":\"x\"}", "#c", "1.5", true, NULL, "k/1"), *ts;
        cJSON *root = cJSON_Parse(p), *md;

        assert_string_equal(cJSON_GetObjectItem(root, "thread_ts")->valuestring, "1.5");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(root, "reply_broadcast")));
        md = cJSON_GetObjectItem(root, "metadata");
        assert_string_equal(cJSON_GetObjectItem(md, "event_type")->valuestring,
                            "canaryd_notification");
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(md, "event_payload"), "key")->valuestring,
            "k/1");
        cJSON_Delete(root);
        free(p);

        static const char replies[] =
            "{\"ok\":true,\"messages\":[{\"ts\":\"1.5\",\"text\":\"parent\"},"
            "{\"ts\":\"1.6\",\"metadata\":{\"event_type\":\"canaryd_notification\","
            "\"event_payload\":{\"key\":\"k/1\"}}}],\"has_more\":false}";
        ts = NULL;
        assert_int_equal(slack_find_key(replies, strlen(replies), "k/1", &ts, NULL), 1);
        assert_string_equal(ts, "1.6");
        free(ts);
        assert_int_equal(slack_find_key(replies, strlen(replies), "k/2", &ts, NULL), 0);
        assert_int_equal(slack_find_key("<html>", 6, "k/1", &ts, NULL), -EBADMSG);
        p = NULL;
        assert_int_equal(
            slack_find_key("{\"ok\":false,\"error\":\"thread_not_found\"}", 39, "k", &ts, &p),
            -EREMOTEIO);
        assert_string_equal(p, "thread_not_found");
        free(p);

        p = slack_payload_mark_resent("{\"text\":\"hi\",\"blocks\":[]}");
        assert_non_null(strstr(p, "\"text\":\"hi (re-sent)\""));
        assert_non_null(strstr(p, "may duplicate"));
        free(p);
}

static void outbox_round_trip_and_errors(void **state)
{
        struct slack_outbox o = {0}, back = {0};
        char dir[] = "/tmp/test-slack-XXXXXX", *path, *err = NULL, *json, *saved;

        o.msgs = xcalloc(1, sizeof(*o.msgs));
        o.msgs[0] = (struct slack_outbox_msg){.key = xstrdup("c/r/started"),
                                              .thread = xstrdup("c/1"),
                                              .payload = xstrdup("{\"text\":\"x\"}"),
                                              .coalescible = true,
                                              .maybe_sent = true};
        o.n_msgs = 1;
        o.threads = xcalloc(1, sizeof(*o.threads));
        o.threads[0].id = xstrdup("c/1");
        o.threads[0].ts = xstrdup("1795320000.000100");
        o.threads[0].lines[0] = xstrdup("line");
        o.threads[0].n_lines = 1;
        o.threads[0].update_pending = true;
        o.n_threads = 1;
        o.recent = xcalloc(1, sizeof(*o.recent));
        o.recent[0] = xstrdup("c/r/old");
        o.n_recent = 1;

        assert_non_null(mkdtemp(dir));
        path = xasprintf("%s/slack-outbox.json", dir);
        assert_int_equal(outbox_load(path, &back, &err), -ENOENT);
        assert_int_equal(outbox_save(path, &o, &err), 0);
        assert_int_equal(outbox_load(path, &back, &err), 0);
        json = slack_outbox_to_json(&back);
        saved = slack_outbox_to_json(&o);
        assert_string_equal(json, saved);
        free(saved);
        assert_true(back.msgs[0].maybe_sent && back.msgs[0].coalescible);
        assert_string_equal(back.threads[0].ts, "1795320000.000100");
        assert_string_equal(back.recent[0], "c/r/old");
        free(json);
        slack_outbox_done(&back);

        assert_int_equal(slack_outbox_from_json("{\"messages\":{}}", 15, &back, &err), -EBADMSG);
        assert_non_null(strstr(err, "slack outbox"));
        free(err);
        err = NULL;
        assert_int_equal(slack_outbox_from_json("{\"messages\":[{\"key\":1}],\"threads\":[],"
                                                "\"recent\":[]}",
                                                52, &back, &err),
                         -EBADMSG);
        free(err);
        unlink(path);
        rmdir(dir);
        free(path);
        slack_outbox_done(&o);
}

/* Token mode, end to end on the loop: parent, replies in its thread, the parent updated, a
 * rollback broadcast, the thread callback, the outbox file. */
static void thread_ts_cb(const char *thread, const char *ts, void *ud)
{
        snprintf(ud, 64, "%s=%s", thread, ts);
}

static void thread_parent_replies_update(void **state)
{
        static const struct fake_resp script[] = {
            {200, NULL, "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"100.000001\"}"}, /* parent */
            {200, NULL, "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"100.000002\"}"}, /* started */
            {200, NULL, "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"100.000003\"}"}, /* rolled back */
            {200, NULL, "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"100.000001\"}"}, /* update */
        };
        char dir[] = "/tmp/test-slack-XXXXXX", seen[64] = "", *outbox, *log, *saved;
        struct slack_settings s = {.token = "xoxb-secret-token",
                                   .channel = "#releases",
                                   .timeout_ms = 2000,
                                   .pace_usec = 10 * USEC_PER_MSEC,
                                   .backoff_base_usec = 10 * USEC_PER_MSEC};
        struct slack_notice n = {.canary = "c", .namespace_ = "n", .phase = "Progressing"};
        struct env e;
        size_t len;

        assert_non_null(mkdtemp(dir));
        outbox = xasprintf("%s/slack-outbox.json", dir);
        log = xasprintf("%s/slack-outbox.log", dir);
        s.outbox_path = outbox;
        env_start(&e, script, ELEMENTSOF(script), &s, "/api");
        slack_set_thread_callback(e.slack, thread_ts_cb, seen);
        n.event = "started";
        n.weight = 10;
        assert_int_equal(slack_notify(e.slack, &n, "c/r/started", "c/1", NULL), 0);
        drain(&e); /* the parent, then the started reply */
        assert_int_equal(fake_count(&e.fake), 2);
        n.event = "rolled back";
        n.phase = "RolledBack";
        n.weight = 0;
        assert_int_equal(slack_notify(e.slack, &n, "c/r/rolled back", "c/1", NULL), 0);
        assert_int_equal(slack_notify(e.slack, &n, "c/r/rolled back", "c/1", NULL), -EEXIST);
        /* in the outbox log at once (the file follows within SLACK_OUTBOX_SAVE_USEC) */
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "\"queue\":{") && strstr(saved, "c/r/rolled back"));
        free(saved);
        drain(&e);

        assert_int_equal(fake_count(&e.fake), 4);
        assert_non_null(strstr(e.fake.reqs[0].head, "POST /api/chat.postMessage"));
        assert_null(strstr(e.fake.reqs[0].body, "thread_ts"));
        assert_non_null(strstr(e.fake.reqs[0].body, "\"key\":\"c/1/parent\""));
        assert_non_null(strstr(e.fake.reqs[1].body, "\"thread_ts\":\"100.000001\""));
        assert_non_null(strstr(e.fake.reqs[1].body, "\"channel\":\"C1\""));
        assert_non_null(strstr(e.fake.reqs[1].body, "\"key\":\"c/r/started\""));
        assert_null(strstr(e.fake.reqs[1].body, "reply_broadcast"));
        assert_non_null(strstr(e.fake.reqs[2].body, "\"reply_broadcast\":true"));
        assert_non_null(strstr(e.fake.reqs[3].head, "POST /api/chat.update"));
        assert_non_null(strstr(e.fake.reqs[3].body, "\"ts\":\"100.000001\""));
        assert_non_null(strstr(e.fake.reqs[3].body, "RolledBack"));
        assert_string_equal(seen, "c/1=100.000001");
        assert_string_equal(slack_thread_ts(e.slack, "c/1"), "100.000001");
        env_stop(&e); /* writes the file and empties the log */
        assert_int_equal(read_file(outbox, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "\"messages\":[]"));
        assert_null(strstr(saved, "xoxb"));
        free(saved);
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_int_equal(len, 0);
        free(saved);
        unlink(outbox);
        unlink(log);
        rmdir(dir);
        free(outbox);
        free(log);
}

/* A restart finds a message that may have been sent: the thread is read back first, and a
 * message already there is not posted again. A backlog coalesces into the parent. */
static void restart_verifies_and_backlog_coalesces(void **state)
{
        static const struct fake_resp script[] = {
            /* replies: the maybe-sent message landed before the crash */
            {200, NULL,
             "{\"ok\":true,\"messages\":[{\"ts\":\"5.000002\",\"metadata\":{\"event_payload\":"
             "{\"key\":\"c/r/progressed/2\"}}}]}"},
            {200, NULL, "{\"ok\":true,\"ts\":\"5.000010\"}"}, /* kept replies */
            {200, NULL, "{\"ok\":true,\"ts\":\"5.000011\"}"},
            {200, NULL, "{\"ok\":true,\"ts\":\"5.000001\"}"}, /* the parent update */
        };
        static const char left[] =
            "{\"version\":1,\"messages\":[{\"key\":\"c/r/progressed/2\",\"thread\":\"c/1\","
            "\"payload\":\"{\\\"text\\\":\\\"p2\\\"}\",\"coalescible\":true,\"maybe_sent\":true}],"
            "\"threads\":[{\"id\":\"c/1\",\"ts\":\"5.000001\",\"channel\":\"C1\","
            "\"summary\":\"{\\\"text\\\":\\\"s\\\",\\\"blocks\\\":[]}\",\"timeline\":[]}],"
            "\"recent\":[]}";
        char dir[] = "/tmp/test-slack-XXXXXX", *outbox;
        struct slack_settings s = {.token = "xoxb-secret-token",
                                   .channel = "#releases",
                                   .timeout_ms = 2000,
                                   .pace_usec = 10 * USEC_PER_MSEC,
                                   .backoff_base_usec = 10 * USEC_PER_MSEC};
        struct slack_notice n = {.canary = "c", .namespace_ = "n", .event = "progressed"};
        struct env e;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        outbox = xasprintf("%s/slack-outbox.json", dir);
        f = fopen(outbox, "w");
        fputs(left, f);
        fclose(f);
        s.outbox_path = outbox;
        env_start(&e, script, ELEMENTSOF(script), &s, "/api");
        /* five routine events at once: at most SLACK_COALESCE_AT replies stay queued */
        for (unsigned i = 3; i < 8; i++) {
                char key[32];

                snprintf(key, sizeof(key), "c/r/progressed/%u", i);
                n.weight = i * 10;
                assert_int_equal(slack_notify(e.slack, &n, key, "c/1", NULL), 0);
        }
        assert_int_equal(slack_coalesced_count(e.slack), 3);
        drain(&e);

        assert_int_equal(fake_count(&e.fake), 4);
        assert_non_null(strstr(e.fake.reqs[0].head, "POST /api/conversations.replies"));
        assert_non_null(strstr(e.fake.reqs[0].body, "channel=C1&ts=5.000001"));
        /* p2 was there: not re-sent; p3, p4 and p5 were folded into the parent */
        for (int i = 1; i < 3; i++) {
                assert_null(strstr(e.fake.reqs[i].body, "p2"));
                assert_non_null(strstr(e.fake.reqs[i].body, "\"thread_ts\":\"5.000001\""));
        }
        assert_non_null(strstr(e.fake.reqs[1].body, "c/r/progressed/6"));
        assert_non_null(strstr(e.fake.reqs[2].body, "c/r/progressed/7"));
        assert_non_null(strstr(e.fake.reqs[3].head, "POST /api/chat.update"));
        /* the coalesced events are in the parent's timeline */
        assert_non_null(strstr(e.fake.reqs[3].body, "progressed at 30%"));
        assert_non_null(strstr(e.fake.reqs[3].body, "progressed at 70%"));
        assert_int_equal(e.drops.n, 0);
        env_stop(&e);
        unlink(outbox);
        rmdir(dir);
        free(outbox);
}

/* A webhook message that may have been sent before a crash is re-sent once, marked. */
static void webhook_resend_is_marked(void **state)
{
        char dir[] = "/tmp/test-slack-XXXXXX", *outbox;
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 10 * USEC_PER_MSEC};
        struct env e;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        outbox = xasprintf("%s/slack-outbox.json", dir);
        f = fopen(outbox, "w");
        fputs("{\"messages\":[{\"key\":\"k\",\"payload\":\"{\\\"text\\\":\\\"hi\\\","
              "\\\"blocks\\\":[]}\",\"maybe_sent\":true}],\"threads\":[],\"recent\":[]}",
              f);
        fclose(f);
        s.outbox_path = outbox;
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 1);
        assert_non_null(strstr(e.fake.reqs[0].body, "hi (re-sent)"));
        assert_non_null(strstr(e.fake.reqs[0].body, "may duplicate"));
        assert_int_equal(slack_enqueue(e.slack, xstrdup("{\"text\":\"again\"}"), "k"), -EEXIST);
        env_stop(&e);

        /* the marked re-send itself was cut by a crash: a third copy could be a second
         * duplicate, so it is not sent; the drop is reported */
        f = fopen(outbox, "w");
        fputs("{\"messages\":[{\"key\":\"k2\",\"payload\":\"{\\\"text\\\":\\\"hi (re-sent)\\\"}\","
              "\"maybe_sent\":true,\"resent\":true}],\"threads\":[],\"recent\":[]}",
              f);
        fclose(f);
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 0);
        assert_int_equal(e.drops.n, 1);
        assert_string_equal(e.drops.keys[0], "k2");
        assert_non_null(strstr(e.drops.reasons[0], "marked re-send may have landed"));
        env_stop(&e);
        unlink(outbox);
        rmdir(dir);
        free(outbox);
}

/* The outbox file keeps write-ahead (held) entries; files without "held" still load. */
static void outbox_held_round_trip(void **state)
{
        struct slack_outbox o = {0}, back = {0};
        char *err = NULL, *json, *again;
        const char *old;

        o.held = xcalloc(1, sizeof(*o.held));
        o.held[0] = (struct slack_outbox_held){.canary = xstrdup("checkout"),
                                               .write_usec = 1795320000123456ULL,
                                               .thread = xstrdup("checkout/1795320000000001"),
                                               .thread_ts = xstrdup("1795320000.000100"),
                                               .summary = xstrdup("{\"text\":\"s\"}"),
                                               .line = xstrdup("started at 10%"),
                                               .n_msgs = 2};
        o.held[0].msgs[0] = (struct slack_outbox_msg){
            .key = xstrdup("k"), .payload = xstrdup("{\"text\":\"x\"}"), .broadcast = true};
        o.held[0].msgs[1] = (struct slack_outbox_msg){.key = xstrdup("k@error"),
                                                      .channel = xstrdup("#incidents"),
                                                      .payload = xstrdup("{\"text\":\"y\"}")};
        o.n_held = 1;
        json = slack_outbox_to_json(&o);
        assert_int_equal(slack_outbox_from_json(json, strlen(json), &back, &err), 0);
        again = slack_outbox_to_json(&back);
        assert_string_equal(json, again);
        assert_int_equal(back.n_held, 1);
        assert_int_equal(back.held[0].write_usec, 1795320000123456ULL); /* exact microseconds */
        assert_int_equal(back.held[0].n_msgs, 2);
        assert_string_equal(back.held[0].msgs[1].channel, "#incidents");
        assert_true(back.held[0].msgs[0].broadcast);
        free(again);
        free(json);
        slack_outbox_done(&back);
        slack_outbox_done(&o);

        /* before write-ahead there was no "held" */
        old = "{\"version\":1,\"messages\":[],\"threads\":[],\"recent\":[]}";
        assert_int_equal(slack_outbox_from_json(old, strlen(old), &back, &err), 0);
        assert_int_equal(back.n_held, 0);
        slack_outbox_done(&back);

        static const char *const bad[] = {
            "{\"messages\":[],\"threads\":[],\"recent\":[],\"held\":{}}",
            "{\"messages\":[],\"threads\":[],\"recent\":[],\"held\":[{\"canary\":\"c\","
            "\"messages\":[{\"payload\":\"{}\"}]}]}", /* no write_us */
            "{\"messages\":[],\"threads\":[],\"recent\":[],\"held\":[{\"write_us\":1,"
            "\"messages\":[{\"payload\":\"{}\"}]}]}", /* no canary */
            "{\"messages\":[],\"threads\":[],\"recent\":[],\"held\":[{\"canary\":\"c\","
            "\"write_us\":1,\"messages\":[]}]}",
            "{\"messages\":[],\"threads\":[],\"recent\":[],\"held\":[{\"canary\":\"c\","
            "\"write_us\":1,\"messages\":[{\"payload\":\"{}\"},{\"payload\":\"{}\"},"
            "{\"payload\":\"{}\"}]}]}",
            "{\"messages\":[],\"threads\":[],\"recent\":[],\"held\":[{\"canary\":\"c\","
            "\"write_us\":1,\"messages\":[{\"key\":\"k\"}]}]}", /* no payload */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = NULL;
                assert_int_equal(slack_outbox_from_json(bad[i], strlen(bad[i]), &back, &err),
                                 -EBADMSG);
                assert_non_null(strstr(err, "slack outbox"));
                free(err);
        }
}

/* Runs the loop for a while without expecting anything to finish. */
static void spin(struct env *e, usec_t how_long)
{
        usec_t until = fake_mono_usec() + how_long;

        while (fake_mono_usec() < until)
                assert_true(sd_event_run(e->event, 10 * USEC_PER_MSEC) >= 0);
}

/* Write-ahead: a held event is persisted at once but never sent before it is resolved; the
 * write that landed is released, one that did not is dropped. */
static void hold_release_and_drop(void **state)
{
        char dir[] = "/tmp/test-slack-XXXXXX", *outbox, *log, *saved;
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 10 * USEC_PER_MSEC};
        struct slack_notice n = {
            .canary = "c", .namespace_ = "n", .event = "started", .weight = 10};
        struct env e;
        size_t len, dropped = 9;
        /* write ids are wall-clock times; the client is given the time, never reads it */
        const usec_t w = 1795320000000000ULL, now = w + 1000 * USEC_PER_MSEC;
        char *want;

        assert_non_null(mkdtemp(dir));
        outbox = xasprintf("%s/slack-outbox.json", dir);
        log = xasprintf("%s/slack-outbox.log", dir);
        s.outbox_path = outbox;
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/100", NULL, NULL, "c", w + 100, NULL),
                         0);
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/100", NULL, NULL, "c", w + 100, NULL),
                         -EEXIST);
        assert_int_equal(slack_notify(e.slack, &n, "c/r/started/100", NULL, NULL), -EEXIST);
        n.event = "rolled back";
        n.weight = 0;
        assert_int_equal(
            slack_hold(e.slack, &n, "c/r/rolled back/200", NULL, NULL, "c", w + 200, NULL), 0);
        assert_int_equal(slack_hold(e.slack, &n, "x", NULL, NULL, "c", 0, NULL), -EINVAL);
        assert_int_equal(slack_held_count(e.slack), 2);
        assert_int_equal(slack_sync(e.slack), 0); /* the log, appended and synced */
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        want =
            xasprintf("\"hold\":{\"canary\":\"c\",\"write_us\":%llu", (unsigned long long)w + 100);
        assert_non_null(strstr(saved, want));
        free(want);
        assert_null(strstr(saved, "secret"));
        free(saved);
        spin(&e, 100 * USEC_PER_MSEC);
        assert_int_equal(fake_count(&e.fake), 0); /* held: never sent before it is resolved */
        assert_int_equal(slack_queue_length(e.slack), 0);

        /* another canary's read resolves nothing of c's */
        assert_int_equal(slack_resolve(e.slack, "d", &(struct slack_seen){.state_usec = w + 100},
                                       now, &dropped, NULL),
                         0);
        assert_int_equal(dropped, 0);
        assert_int_equal(slack_held_count(e.slack), 2);
        /* the cluster holds write 100: its event is released, write 200 did not land */
        assert_int_equal(slack_resolve(e.slack, "c", &(struct slack_seen){.state_usec = w + 100},
                                       now, &dropped, NULL),
                         1);
        assert_int_equal(dropped, 1);
        assert_int_equal(slack_held_count(e.slack), 0);
        spin(&e, SLACK_OUTBOX_SAVE_USEC + 50 * USEC_PER_MSEC); /* the file follows */
        assert_int_equal(read_file(outbox, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "\"held\":[]"));
        assert_non_null(strstr(saved, "c/r/started/100"));
        free(saved);
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_int_equal(len, 0); /* emptied: the file holds it all */
        free(saved);
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 1);
        assert_non_null(strstr(e.fake.reqs[0].body, "started at 10%"));
        assert_int_equal(e.drops.n, 0);
        /* delivered: the key stays known */
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/100", NULL, NULL, "c", w + 300, NULL),
                         -EEXIST);
        /* a write refused for sure (0) drops whatever the canary holds */
        assert_int_equal(
            slack_hold(e.slack, &n, "c/r/rolled back/400", NULL, NULL, "c", w + 400, NULL), 0);
        assert_int_equal(
            slack_resolve(e.slack, "c", &(struct slack_seen){.state_usec = 0}, now, &dropped, NULL),
            0);
        assert_int_equal(dropped, 1);
        spin(&e, 50 * USEC_PER_MSEC);
        assert_int_equal(fake_count(&e.fake), 1);
        env_stop(&e);
        unlink(outbox);
        unlink(log);
        rmdir(dir);
        free(outbox);
        free(log);
}

/* A write that may still be on its way to the API server (its daemon died with it on the
 * wire) is neither sent nor dropped by a read that does not show it yet, as long as the object
 * still has the version the write is guarded by; a newer version, a refusal of another write,
 * or the in-flight bound ends the wait. The guard survives a restart (outbox file). */
static void held_waits_for_write_in_flight(void **state)
{
        char dir[] = "/tmp/test-slack-XXXXXX", *outbox, *log, *saved;
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 10 * USEC_PER_MSEC};
        struct slack_notice n = {
            .canary = "c", .namespace_ = "n", .event = "started", .weight = 10};
        struct env e;
        size_t len, dropped = 9;
        const usec_t w = 1795320000000000ULL, now = w + 1000 * USEC_PER_MSEC;
        usec_t recheck = 0;

        (void)state;
        assert_non_null(mkdtemp(dir));
        outbox = xasprintf("%s/slack-outbox.json", dir);
        log = xasprintf("%s/slack-outbox.log", dir);
        s.outbox_path = outbox;
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/1", NULL, NULL, "c", w, "1006"), 0);
        assert_int_equal(slack_sync(e.slack), 0);
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "\"base_rv\":\"1006\""));
        free(saved);
        /* a restart: the next client reads the guard back */
        env_stop(&e);
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        assert_int_equal(slack_held_count(e.slack), 1);

        /* read at the guarded version, state of an older write: wait, and say until when */
        assert_int_equal(slack_resolve(e.slack, "c",
                                       &(struct slack_seen){.state_usec = w - 5, .rv = "1006"}, now,
                                       &dropped, &recheck),
                         0);
        assert_int_equal(dropped, 0);
        assert_int_equal(recheck, w + SLACK_HELD_INFLIGHT_USEC);
        assert_int_equal(slack_held_count(e.slack), 1);
        /* a refusal of another write of c leaves it alone */
        assert_int_equal(slack_forget_write(e.slack, "c", w + 7), 0);
        assert_int_equal(slack_held_count(e.slack), 1);
        /* the write lands: the watch shows it, the next read releases it */
        assert_int_equal(slack_resolve(e.slack, "c",
                                       &(struct slack_seen){.state_usec = w, .rv = "1007"}, now,
                                       &dropped, &recheck),
                         1);
        assert_int_equal(recheck, 0);
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 1);

        /* a newer version that is not the write: it can no longer land (409) */
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/2", NULL, NULL, "c", w + 10, "1007"),
                         0);
        assert_int_equal(slack_resolve(e.slack, "c",
                                       &(struct slack_seen){.state_usec = w + 3, .rv = "1008"}, now,
                                       &dropped, &recheck),
                         0);
        assert_int_equal(dropped, 1);
        assert_int_equal(recheck, 0);
        /* still at its version, but past the in-flight bound: it never reached the server */
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/3", NULL, NULL, "c", w + 20, "1008"),
                         0);
        assert_int_equal(slack_resolve(e.slack, "c",
                                       &(struct slack_seen){.state_usec = w + 3, .rv = "1008"},
                                       w + 20 + SLACK_HELD_INFLIGHT_USEC, &dropped, &recheck),
                         0);
        assert_int_equal(dropped, 1);
        /* no guard known (an outbox of an older version): a read that does not show it drops it */
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/4", NULL, NULL, "c", w + 30, NULL),
                         0);
        assert_int_equal(slack_resolve(e.slack, "c",
                                       &(struct slack_seen){.state_usec = w + 3, .rv = "1008"}, now,
                                       &dropped, &recheck),
                         0);
        assert_int_equal(dropped, 1);
        /* a refusal of exactly its write drops it */
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/5", NULL, NULL, "c", w + 40, "1008"),
                         0);
        assert_int_equal(slack_forget_write(e.slack, "c", w + 40), 1);
        assert_int_equal(slack_held_count(e.slack), 0);
        spin(&e, 50 * USEC_PER_MSEC);
        assert_int_equal(fake_count(&e.fake), 1);
        env_stop(&e);
        unlink(outbox);
        unlink(log);
        rmdir(dir);
        free(outbox);
        free(log);
}

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* The outbox on disk: a hold is one line appended to the log (durable at slack_sync()), not a
 * rewrite of the whole file; the file follows within SLACK_OUTBOX_SAVE_USEC, one write for many
 * changes, and empties the log. A crash before it: the log alone brings the holds back. */
static void outbox_log_then_file(void **state)
{
        char dir[] = "/tmp/test-slack-XXXXXX", *outbox, *log, *saved, *warning = NULL;
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 10 * USEC_PER_MSEC};
        struct slack_notice n = {
            .canary = "c", .namespace_ = "n", .event = "started", .weight = 10};
        const usec_t w = 1795320000000000ULL;
        struct stat st1, st2;
        struct env e;
        size_t len;

        (void)state;
        assert_non_null(mkdtemp(dir));
        outbox = xasprintf("%s/slack-outbox.json", dir);
        log = xasprintf("%s/slack-outbox.log", dir);
        s.outbox_path = outbox;
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        assert_int_equal(slack_hold(e.slack, &n, "c/1", NULL, NULL, "c", w + 1, NULL), 0);
        assert_int_equal(slack_hold(e.slack, &n, "d/1", NULL, NULL, "d", w + 2, NULL), 0);
        assert_int_equal(slack_sync(e.slack), 0);
        assert_int_equal(stat(outbox, &st1), -1); /* no file write for a hold */
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "{\"seq\":1,\"hold\":{\"canary\":\"c\""));
        assert_non_null(strstr(saved, "{\"seq\":2,\"hold\":{\"canary\":\"d\""));

        /* killed here: only the log is on disk (the client's own exit would write the file) */
        env_stop(&e);
        unlink(outbox);
        write_text(log, saved);
        free(saved);
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        assert_int_equal(slack_held_count(e.slack), 2);
        assert_int_equal(stat(outbox, &st1), 0); /* taken into the file at once, log emptied */
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_int_equal(len, 0);
        free(saved);

        /* three changes: the log gets the queued notice at once, the file one write later */
        assert_int_equal(slack_resolve(e.slack, "c", &(struct slack_seen){.state_usec = w + 1},
                                       w + 10, NULL, NULL),
                         1);
        assert_int_equal(slack_resolve(e.slack, "d", &(struct slack_seen){.state_usec = w + 2},
                                       w + 10, NULL, NULL),
                         1);
        n.event = "paused";
        assert_int_equal(slack_notify(e.slack, &n, "e/1", NULL, NULL), 0);
        assert_int_equal(stat(outbox, &st2), 0);
        assert_int_equal(st1.st_ino, st2.st_ino);
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "\"queue\":{") && strstr(saved, "\"e/1\""));
        free(saved);
        /* written by the first send (an attempt that may land) or the save timer */
        while (st1.st_ino == st2.st_ino) {
                assert_true(sd_event_run(e.event, 10 * USEC_PER_MSEC) >= 0);
                assert_int_equal(stat(outbox, &st2), 0);
        }
        assert_int_equal(read_file(outbox, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "\"held\":[]"));
        assert_non_null(strstr(saved, "\"e/1\""));
        free(saved);
        assert_int_equal(read_file(log, 1 << 20, &saved, &len), 0);
        assert_int_equal(len, 0);
        free(saved);
        env_stop(&e);

        /* a record the file already holds (seq <= log_seq) is skipped; a bad line and a torn
         * last one are skipped and reported; the rest is replayed */
        write_text(outbox, "{\"version\":1,\"log_seq\":7,\"messages\":[],\"threads\":[],"
                           "\"recent\":[],\"held\":[]}");
        write_text(log, "{\"seq\":7,\"hold\":{\"canary\":\"x\",\"write_us\":5,\"messages\":"
                        "[{\"key\":\"x/old\",\"payload\":\"{}\"}]}}\n"
                        "{\"seq\":8,\"hold\":{\"write_us\":5}}\n"
                        "{\"seq\":9,\"hold\":{\"canary\":\"x\",\"write_us\":6,\"messages\":"
                        "[{\"key\":\"x/new\",\"payload\":\"{}\"}]}}\n"
                        "{\"seq\":10,\"hold\":{\"canary\"");
        e = (struct env){0};
        fake_start(&e.fake, NULL, 0);
        e.url = xasprintf("http://127.0.0.1:%d/services/T0/B0/secret", e.fake.port);
        s.webhook_url = e.url;
        assert_int_equal(sd_event_new(&e.event), 0);
        assert_int_equal(http_client_new(e.event, &e.http), 0);
        assert_int_equal(slack_client_new_full(e.event, e.http, &s, &e.slack, &warning), 0);
        assert_non_null(warning);
        assert_non_null(strstr(warning, "skipped 2 unreadable record(s)"));
        free(warning);
        assert_int_equal(slack_held_count(e.slack), 1);
        assert_int_equal(read_file(outbox, 1 << 20, &saved, &len), 0);
        assert_non_null(strstr(saved, "x/new"));
        assert_null(strstr(saved, "x/old"));
        assert_non_null(strstr(saved, "\"log_seq\":9"));
        free(saved);
        env_stop(&e);
        unlink(outbox);
        unlink(log);
        rmdir(dir);
        free(outbox);
        free(log);
}

/* A crash left held entries in the outbox: the restarted client sends nothing until the
 * driver's first read of each canary resolves them; stale ones of other canaries expire. */
static void restart_resolves_held(void **state)
{
        static const char left[] =
            "{\"version\":1,\"messages\":[],\"threads\":[],\"recent\":[],\"held\":["
            "{\"canary\":\"c\",\"write_us\":1795320000000100,"
            "\"messages\":[{\"key\":\"c/a\",\"payload\":\"{\\\"text\\\":\\\"A\\\"}\"}]},"
            "{\"canary\":\"c\",\"write_us\":1795320000000200,"
            "\"messages\":[{\"key\":\"c/b\",\"payload\":\"{\\\"text\\\":\\\"B\\\"}\"}]},"
            "{\"canary\":\"d\",\"write_us\":1795320000000300,"
            "\"messages\":[{\"key\":\"d/c\",\"payload\":\"{\\\"text\\\":\\\"C\\\"}\"}]},"
            "{\"canary\":\"gone\",\"write_us\":1000,"
            "\"messages\":[{\"key\":\"gone/d\",\"payload\":\"{\\\"text\\\":\\\"D\\\"}\"}]}]}";
        /* an hour after the writes: "gone" (written in 1970) is long past the held limit */
        const usec_t now = 1795320000000300ULL + 3600 * 1000 * USEC_PER_MSEC;
        char dir[] = "/tmp/test-slack-XXXXXX", *outbox;
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 10 * USEC_PER_MSEC};
        struct env e;
        size_t dropped = 0;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        outbox = xasprintf("%s/slack-outbox.json", dir);
        f = fopen(outbox, "w");
        fputs(left, f);
        fclose(f);
        s.outbox_path = outbox;
        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        assert_int_equal(slack_held_count(e.slack), 4);
        spin(&e, 100 * USEC_PER_MSEC);
        assert_int_equal(fake_count(&e.fake), 0);
        assert_int_equal(slack_resolve(e.slack, "c",
                                       &(struct slack_seen){.state_usec = 1795320000000200ULL}, now,
                                       &dropped, NULL),
                         1);
        assert_int_equal(dropped, 1);
        /* "gone" (a canary no longer read) expired; d waits for its own read */
        assert_int_equal(slack_held_count(e.slack), 1);
        assert_int_equal(e.drops.n, 1);
        assert_string_equal(e.drops.keys[0], "gone/d");
        assert_non_null(strstr(e.drops.reasons[0], "never confirmed"));
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 1);
        assert_string_equal(e.fake.reqs[0].body, "{\"text\":\"B\"}");
        env_stop(&e);
        unlink(outbox);
        rmdir(dir);
        free(outbox);
}

/* Held entries expire by the time the caller gives, never by the wall clock: a test (or a
 * replayed outbox) is judged against the now it is handed. */
static void held_expiry_follows_given_clock(void **state)
{
        const usec_t w = 1795320000000000ULL;
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 10 * USEC_PER_MSEC};
        struct slack_notice n = {
            .canary = "c", .namespace_ = "n", .event = "started", .weight = 10};
        struct env e;

        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started", NULL, NULL, "c", w, NULL), 0);
        /* another canary's read, exactly at the age limit: c's entry stays */
        assert_int_equal(slack_resolve(e.slack, "x", &(struct slack_seen){.state_usec = 0},
                                       w + SLACK_HELD_MAX_AGE_USEC, NULL, NULL),
                         0);
        assert_int_equal(slack_held_count(e.slack), 1);
        assert_int_equal(e.drops.n, 0);
        /* a moment later it has expired, whatever today's date is */
        assert_int_equal(slack_resolve(e.slack, "x", &(struct slack_seen){.state_usec = 0},
                                       w + SLACK_HELD_MAX_AGE_USEC + 1, NULL, NULL),
                         0);
        assert_int_equal(slack_held_count(e.slack), 0);
        assert_int_equal(e.drops.n, 1);
        assert_string_equal(e.drops.keys[0], "c/r/started");
        /* and a clock far in the past expires nothing */
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started/2", NULL, NULL, "c", w, NULL), 0);
        assert_int_equal(
            slack_resolve(e.slack, "x", &(struct slack_seen){.state_usec = 0}, 1000, NULL, NULL),
            0);
        assert_int_equal(slack_held_count(e.slack), 1);
        env_stop(&e);
}

/* Slack at scale (SPEC §7), webhook mode: 300 canaries progress at once and 5 roll back
 * behind them. The rollbacks go first, each alone; the 300 routine events become one digest,
 * folded as they arrive (the queue, and the outbox file, hold one message for them, not 300);
 * nothing is dropped. */
static void flood_warnings_first_routine_digested(void **state)
{
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 5 * USEC_PER_MSEC};
        struct env e;
        char key[64], name[32];

        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        for (unsigned i = 0; i < 305; i++) {
                bool bad = i >= 300;
                snprintf(name, sizeof(name), "c%u", bad ? i - 300 : i);
                snprintf(key, sizeof(key), "%s/r/%s", name, bad ? "rolled back" : "progressed");
                struct slack_notice n = {.canary = name,
                                         .namespace_ = "n",
                                         .event = bad ? "rolled back" : "progressed",
                                         .phase = bad ? "RolledBack" : "Progressing",
                                         .weight = bad ? 0 : 25};
                assert_int_equal(slack_notify(e.slack, &n, key, NULL, NULL), 0);
        }
        assert_int_equal(slack_queue_length(e.slack), 1 + 5);
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 6);
        for (unsigned i = 0; i < 5; i++)
                assert_non_null(strstr(e.fake.reqs[i].body, "rolled back"));
        assert_non_null(strstr(e.fake.reqs[5].body, "300 updates"));
        assert_non_null(strstr(e.fake.reqs[5].body, "and 280 more"));
        assert_int_equal(e.drops.n, 0);
        assert_int_equal(slack_dropped_count(e.slack), 0);
        assert_int_equal(slack_coalesced_count(e.slack), 299);
        env_stop(&e);
}

/* A full queue: a warning or error takes the place of the oldest routine message (which is
 * reported dropped); a routine message is dropped. Memory stays bounded. Routine messages fold
 * into a digest past SLACK_BACKLOG_AT, so it takes warnings to fill the queue. */
/* Severity routing follows the engine's notify levels for every notification, and anything
 * that is not a notification's name (an outbox from elsewhere) is routine. */
static void severity_follows_notify_levels(void **state)
{
        (void)state;
        static const enum slack_severity of_level[] = {SLACK_INFO, SLACK_WARN, SLACK_ERROR};
        for (unsigned n = 0; n < _ROLLOUT_NOTIFY_MAX; n++) {
                const struct rollout_notify_policy *p = rollout_notify_policy(n);
                assert_int_equal(slack_event_severity(p->name), of_level[p->level]);
        }
        assert_int_equal(slack_event_severity("rolled back"), SLACK_ERROR);
        /* SPEC.md §10: drift pages (level 1), an abort by hand only notifies (level 3) */
        assert_int_equal(slack_event_severity("drift"), SLACK_ERROR);
        assert_int_equal(slack_event_severity("aborted"), SLACK_INFO);
        assert_int_equal(slack_event_severity("paused"), SLACK_WARN);
        assert_int_equal(slack_event_severity("Rolled Back"), SLACK_INFO);
        assert_int_equal(slack_event_severity(NULL), SLACK_INFO);
}

static void full_queue_keeps_warnings(void **state)
{
        struct slack_settings s = {.timeout_ms = 2000, .pace_usec = 5 * USEC_PER_MSEC};
        struct env e;
        char key[64], name[32];

        env_start(&e, NULL, 0, &s, "/services/T0/B0/secret");
        for (unsigned i = 0; i < SLACK_QUEUE_MAX; i++) {
                bool routine = i < SLACK_BACKLOG_AT;
                snprintf(name, sizeof(name), "c%u", i);
                snprintf(key, sizeof(key), "%s/r/%s", name, routine ? "progressed" : "drift");
                struct slack_notice n = {.canary = name,
                                         .namespace_ = "n",
                                         .event = routine ? "progressed" : "drift",
                                         .weight = 25};
                assert_int_equal(slack_notify(e.slack, &n, key, NULL, NULL), 0);
        }
        struct slack_notice bad = {
            .canary = "x", .namespace_ = "n", .event = "drift", .weight = 40};
        assert_int_equal(slack_notify(e.slack, &bad, "x/r/drift", NULL, NULL), 0);
        assert_int_equal(slack_queue_length(e.slack), SLACK_QUEUE_MAX);
        assert_int_equal(e.drops.n, 1);
        assert_string_equal(e.drops.keys[0], "c0/r/progressed");
        assert_non_null(strstr(e.drops.reasons[0], "a warning took its place"));
        struct slack_notice late = {
            .canary = "y", .namespace_ = "n", .event = "progressed", .weight = 25};
        assert_int_equal(slack_notify(e.slack, &late, "y/r/progressed", NULL, NULL), -ENOBUFS);
        assert_int_equal(slack_dropped_count(e.slack), 2);
        assert_int_equal(slack_queue_length(e.slack), SLACK_QUEUE_MAX);
        drain(&e);
        /* warnings first; everything queued is delivered */
        assert_int_equal(slack_queue_length(e.slack), 0);
        assert_non_null(strstr(e.fake.reqs[0].body, "drift"));
        assert_int_equal(slack_dropped_count(e.slack), 2);
        env_stop(&e);
}

/* Token mode: a held event touches no thread until released; a dropped one never reaches the
 * parent's timeline. */
static void hold_token_thread(void **state)
{
        static const struct fake_resp script[] = {
            {200, NULL, "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"100.000001\"}"}, /* parent */
            {200, NULL, "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"100.000002\"}"}, /* started */
        };
        struct slack_settings s = {.token = "xoxb-secret-token",
                                   .channel = "#releases",
                                   .timeout_ms = 2000,
                                   .pace_usec = 10 * USEC_PER_MSEC,
                                   .backoff_base_usec = 10 * USEC_PER_MSEC};
        struct slack_notice n = {
            .canary = "c", .namespace_ = "n", .phase = "RolledBack", .event = "aborted"};
        struct env e;

        env_start(&e, script, ELEMENTSOF(script), &s, "/api");
        assert_int_equal(slack_hold(e.slack, &n, "c/r/aborted", "c/1", NULL, "c", 50, NULL), 0);
        assert_null(slack_thread_ts(e.slack, "c/1"));
        (void)slack_resolve(e.slack, "c", &(struct slack_seen){.state_usec = 49}, 100, NULL,
                            NULL); /* the abort did not land */
        n.event = "started";
        n.phase = "Progressing";
        n.weight = 10;
        assert_int_equal(slack_hold(e.slack, &n, "c/r/started", "c/1", NULL, "c", 60, NULL), 0);
        assert_int_equal(
            slack_resolve(e.slack, "c", &(struct slack_seen){.state_usec = 60}, 100, NULL, NULL),
            1);
        drain(&e);
        assert_int_equal(fake_count(&e.fake), 2);
        assert_non_null(strstr(e.fake.reqs[0].body, "\"key\":\"c/1/parent\""));
        assert_non_null(strstr(e.fake.reqs[0].body, "started at 10%"));
        assert_null(strstr(e.fake.reqs[0].body, "aborted"));
        assert_non_null(strstr(e.fake.reqs[1].body, "\"key\":\"c/r/started\""));
        assert_non_null(strstr(e.fake.reqs[1].body, "\"thread_ts\":\"100.000001\""));
        env_stop(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(render_rollback_names_everything),
            cmocka_unit_test(render_runbook_only_on_failures),
            cmocka_unit_test(render_escapes_user_text),
            cmocka_unit_test(render_truncates_long_and_invalid_text),
            cmocka_unit_test(render_caps_blocks_and_keeps_failures),
            cmocka_unit_test(parse_post_response_fixture),
            cmocka_unit_test(client_new_rejects_bad_settings),
            cmocka_unit_test(queue_paces_one_per_second),
            cmocka_unit_test(queue_retries_and_drops),
            cmocka_unit_test(queue_token_mode),
            cmocka_unit_test(queue_transport_errors_dropped_without_secrets),
            cmocka_unit_test(queue_free_with_request_in_flight),
            cmocka_unit_test(render_golden_every_event),
            cmocka_unit_test(render_report_link_on_failures),
            cmocka_unit_test(render_golden_parent),
            cmocka_unit_test(payload_prepare_and_find_key),
            cmocka_unit_test(outbox_round_trip_and_errors),
            cmocka_unit_test(thread_parent_replies_update),
            cmocka_unit_test(restart_verifies_and_backlog_coalesces),
            cmocka_unit_test(webhook_resend_is_marked),
            cmocka_unit_test(outbox_held_round_trip),
            cmocka_unit_test(hold_release_and_drop),
            cmocka_unit_test(held_waits_for_write_in_flight),
            cmocka_unit_test(outbox_log_then_file),
            cmocka_unit_test(restart_resolves_held),
            cmocka_unit_test(held_expiry_follows_given_clock),
            cmocka_unit_test(flood_warnings_first_routine_digested),
            cmocka_unit_test(full_queue_keeps_warnings),
            cmocka_unit_test(severity_follows_notify_levels),
            cmocka_unit_test(hold_token_thread),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
