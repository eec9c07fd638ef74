/* The Slack delivery state machine (src/core/slack-delivery.c) driven directly with a fake clock:
 * no event loop, no HTTP, no files. tests/unit/test-slack.c covers the client around it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/slack-delivery.h"

#define SEC  USEC_PER_SEC
#define WALL ((usec_t)1700000000 * USEC_PER_SEC)

static char *fake_text(const char *payload)
{
        return xstrdup(payload);
}

static char *fake_digest(const char *const *texts, size_t n, size_t more)
{
        (void)texts;
        return xasprintf("digest %zu+%zu", n, more);
}

static char *fake_mark(const char *payload)
{
        return xasprintf("%s (re-sent)", payload);
}

static struct slack_delivery *new_delivery(bool token)
{
        return slack_delivery_new(&(struct slack_delivery_settings){
            .token_mode = token,
            .channel = token ? "C0" : NULL,
            .render = {.text = fake_text, .digest = fake_digest, .mark_resent = fake_mark},
        });
}

static struct slack_outbox_msg msg(const char *key, const char *channel, bool routine)
{
        return (struct slack_outbox_msg){
            .key = xstrdup(key),
            .channel = xstrdup(channel),
            .payload = xasprintf("payload %s", key),
            .routine = routine,
        };
}

static void queue(struct slack_delivery *d, const char *key, const char *channel, bool routine)
{
        struct slack_outbox_msg m = msg(key, channel, routine);

        assert_int_equal(slack_delivery_queue(d, &m), 0);
}

/* Picks at now, sends, and returns what was picked (its key, borrowed until the answer). */
static const char *send_next(struct slack_delivery *d, usec_t now, enum slack_op *ret_op)
{
        struct slack_pick p;
        usec_t wake;

        assert_true(slack_delivery_pick(d, now, &p, &wake));
        assert_true(slack_delivery_begin(d, &p));
        if (ret_op)
                *ret_op = p.op;
        (void)slack_delivery_attempt(d, &p, now);
        return slack_delivery_pick_key(d, &p);
}

static void answer(struct slack_delivery *d, enum slack_outcome_kind kind, usec_t now)
{
        (void)slack_delivery_done(d, &(struct slack_outcome){.kind = kind, .reason = "test"}, now);
}

static size_t drops(struct slack_delivery *d, char **ret_last_reason)
{
        struct slack_delivery_event e;
        size_t n = 0;

        while (slack_delivery_next_event(d, &e)) {
                if (e.kind == SLACK_DELIVERY_DROPPED) {
                        n++;
                        if (ret_last_reason) {
                                free(*ret_last_reason);
                                *ret_last_reason = xstrdup(e.reason);
                        }
                }
                slack_delivery_event_done(&e);
        }
        return n;
}

/* Counts the FOLDED events (and drops none): the last key and where it went. */
static size_t folds(struct slack_delivery *d, char **ret_last_key, char **ret_last_into)
{
        struct slack_delivery_event e;
        size_t n = 0;

        while (slack_delivery_next_event(d, &e)) {
                assert_int_not_equal(e.kind, SLACK_DELIVERY_DROPPED);
                if (e.kind == SLACK_DELIVERY_FOLDED) {
                        n++;
                        free(*ret_last_key);
                        *ret_last_key = e.key ? xstrdup(e.key) : NULL;
                        free(*ret_last_into);
                        *ret_last_into = xstrdup(e.reason);
                }
                slack_delivery_event_done(&e);
        }
        return n;
}

static void test_paced_per_channel(void **state)
{
        struct slack_delivery *d = new_delivery(false);
        struct slack_pick p;
        usec_t wake;

        (void)state;
        queue(d, "a", NULL, false);
        queue(d, "b", NULL, false);
        queue(d, "c", "other", false);
        assert_string_equal(send_next(d, SEC, NULL), "a");
        /* one request at a time */
        assert_false(slack_delivery_pick(d, SEC, &p, &wake));
        assert_true(wake == USEC_INFINITY);
        answer(d, SLACK_OUTCOME_OK, SEC);
        /* b waits for its channel; c's channel is free */
        assert_string_equal(send_next(d, SEC, NULL), "c");
        answer(d, SLACK_OUTCOME_OK, SEC);
        assert_false(slack_delivery_pick(d, SEC + 1, &p, &wake));
        assert_true(wake == 2 * SEC);
        assert_string_equal(send_next(d, 2 * SEC, NULL), "b");
        answer(d, SLACK_OUTCOME_OK, 2 * SEC);
        assert_int_equal(d->delivered, 3);
        assert_int_equal(slack_delivery_queue_length(d), 0);
        slack_delivery_free(d);
}

static void test_retry_after_and_backoff(void **state)
{
        struct slack_delivery *d = new_delivery(false);
        struct slack_pick p;
        usec_t wake;

        (void)state;
        queue(d, "a", NULL, false);
        send_next(d, SEC, NULL);
        (void)slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_RATELIMITED, .wait = 30 * SEC}, SEC);
        assert_false(slack_delivery_pick(d, 30 * SEC, &p, &wake));
        assert_true(wake == 31 * SEC);
        send_next(d, 31 * SEC, NULL);
        /* a 429 is not an attempt: the first failure waits the base backoff */
        answer(d, SLACK_OUTCOME_RETRY, 31 * SEC);
        assert_int_equal(d->head->attempts, 1);
        assert_false(slack_delivery_pick(d, 31 * SEC, &p, &wake));
        assert_true(wake == 32 * SEC);
        send_next(d, 32 * SEC, NULL);
        answer(d, SLACK_OUTCOME_RETRY, 32 * SEC);
        assert_false(slack_delivery_pick(d, 33 * SEC, &p, &wake));
        assert_true(wake == 34 * SEC); /* doubled */
        slack_delivery_free(d);
}

static void test_max_attempts_drop(void **state)
{
        struct slack_delivery *d = new_delivery(false);
        char *reason = NULL;
        usec_t now = SEC;

        (void)state;
        queue(d, "a", NULL, false);
        for (int i = 0; i < SLACK_MAX_ATTEMPTS; i++) {
                send_next(d, now, NULL);
                answer(d, SLACK_OUTCOME_RETRY, now);
                now += SLACK_BACKOFF_MAX_USEC;
        }
        assert_int_equal(drops(d, &reason), 1);
        assert_string_equal(reason, "test (after 6 attempts)");
        /* a dropped key is forgotten: it may come again */
        assert_false(slack_delivery_key_known(d, "a"));
        free(reason);
        slack_delivery_free(d);
}

static void test_maybe_sent_read_back(void **state)
{
        struct slack_delivery *d = new_delivery(true);
        enum slack_op op;

        (void)state;
        queue(d, "a", NULL, false);
        send_next(d, SEC, &op);
        assert_int_equal(op, SLACK_OP_POST);
        (void)slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_RETRY, .ambiguous = true}, SEC);
        assert_true(d->head->m.maybe_sent);
        send_next(d, 10 * SEC, &op);
        assert_int_equal(op, SLACK_OP_VERIFY); /* read back first */
        (void)slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_OK, .found = true, .ts = "1.2"},
            10 * SEC);
        assert_int_equal(d->delivered, 1);
        assert_true(slack_delivery_key_known(d, "a"));
        assert_int_equal(slack_delivery_queue_length(d), 0);
        slack_delivery_free(d);
}

static void test_webhook_marked_resend(void **state)
{
        struct slack_delivery *d = new_delivery(false);
        struct slack_pick p;
        usec_t wake;
        char *reason = NULL;

        (void)state;
        queue(d, "a", NULL, false);
        send_next(d, SEC, NULL);
        (void)slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_RETRY, .ambiguous = true}, SEC);
        send_next(d, 10 * SEC, NULL);
        assert_true(d->head->m.resent);
        assert_string_equal(d->head->m.payload, "payload a (re-sent)");
        (void)slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_RETRY, .ambiguous = true}, 10 * SEC);
        /* the marked copy may have landed too: no third */
        assert_true(slack_delivery_pick(d, 20 * SEC, &p, &wake));
        assert_false(slack_delivery_begin(d, &p));
        assert_int_equal(drops(d, &reason), 1);
        assert_non_null(strstr(reason, "its marked re-send may have landed"));
        assert_int_equal(slack_delivery_queue_length(d), 0);
        free(reason);
        slack_delivery_free(d);
}

static struct slack_outbox_held held(const char *key, const char *canary, usec_t write_usec,
                                     const char *rv)
{
        return (struct slack_outbox_held){
            .canary = xstrdup(canary),
            .write_usec = write_usec,
            .base_rv = xstrdup(rv),
            .msgs = {msg(key, NULL, false)},
            .n_msgs = 1,
        };
}

static void test_held_released_by_its_write(void **state)
{
        struct slack_delivery *d = new_delivery(false);
        struct slack_outbox_held h1 = held("a", "c", WALL + 1, "10");
        struct slack_outbox_held h2 = held("b", "c", WALL + 2, "10");
        struct slack_outbox_held h3 = held("a", "c", WALL + 3, "10");
        struct slack_resolution r;
        struct slack_pick p;
        usec_t wake;

        (void)state;
        assert_int_equal(slack_delivery_hold(d, &h1, NULL), 0);
        assert_int_equal(slack_delivery_hold(d, &h2, NULL), 0);
        assert_int_equal(slack_delivery_hold(d, &h3, NULL), -EEXIST);
        /* nothing held is sent */
        assert_false(slack_delivery_pick(d, SEC, &p, &wake));
        /* the object still has the version both writes were guarded by: kept, read again */
        r = slack_delivery_resolve(d, "c", &(struct slack_seen){.rv = "10"}, WALL + 5);
        assert_int_equal(r.released + r.dropped, 0);
        assert_true(r.recheck_at == WALL + 1 + SLACK_HELD_INFLIGHT_USEC);
        /* the second write landed: its message goes, the first's is dropped */
        r = slack_delivery_resolve(d, "c", &(struct slack_seen){.state_usec = WALL + 2}, WALL + 6);
        assert_int_equal(r.released, 1);
        assert_int_equal(r.dropped, 1);
        assert_true(r.changed);
        assert_int_equal(d->n_held, 0);
        assert_string_equal(send_next(d, SEC, NULL), "b");
        assert_false(slack_delivery_key_known(d, "a"));
        slack_delivery_free(d);
}

static void test_held_forget_and_expire(void **state)
{
        struct slack_delivery *d = new_delivery(false);
        struct slack_outbox_held h1 = held("a", "c", WALL + 1, NULL);
        struct slack_outbox_held h2 = held("b", "x", WALL + 2, NULL);
        struct slack_resolution r;

        (void)state;
        assert_int_equal(slack_delivery_hold(d, &h1, NULL), 0);
        assert_int_equal(slack_delivery_hold(d, &h2, NULL), 0);
        assert_int_equal(slack_delivery_forget_write(d, "c", WALL + 1), 1);
        assert_int_equal(drops(d, NULL), 0); /* the event did not happen: nothing to report */
        /* x's entry outlives its age at a resolve of another canary: dropped and reported */
        r = slack_delivery_resolve(d, "c", &(struct slack_seen){0},
                                   WALL + 3 + SLACK_HELD_MAX_AGE_USEC);
        assert_true(r.changed);
        assert_int_equal(d->n_held, 0);
        assert_int_equal(drops(d, NULL), 1);
        slack_delivery_free(d);
}

static void test_webhook_digest(void **state)
{
        struct slack_delivery *d = new_delivery(false);
        char key[16];

        (void)state;
        for (int i = 0; i <= SLACK_BACKLOG_AT; i++) {
                snprintf(key, sizeof(key), "r%d", i);
                queue(d, key, NULL, true);
        }
        /* past the backlog the routine messages became one digest */
        assert_int_equal(d->n_queued, 1);
        assert_true(d->head->digest);
        assert_string_equal(d->head->m.key, "r0+digest");
        assert_string_equal(d->head->m.payload, "digest 9+0");
        assert_int_equal(d->coalesced, SLACK_BACKLOG_AT);
        assert_true(slack_delivery_key_known(d, "r3"));
        /* each message the digest stands for is reported, the first one too */
        char *key_ = NULL, *into = NULL;
        assert_int_equal(folds(d, &key_, &into), SLACK_BACKLOG_AT + 1);
        assert_string_equal(key_, "r8");
        assert_string_equal(into, "a digest");
        free(key_);
        free(into);
        slack_delivery_free(d);
}

static void test_thread_parent_first(void **state)
{
        struct slack_delivery *d = new_delivery(true);
        struct slack_outbox_held h = {
            .thread = xstrdup("c/1"),
            .summary = xstrdup("summary"),
            .line = xstrdup("line"),
            .write_usec = WALL,
            .msgs = {msg("a", NULL, true)},
            .n_msgs = 1,
        };
        struct slack_delivery_event e;
        enum slack_op op;

        (void)state;
        h.msgs[0].thread = xstrdup("c/1");
        h.msgs[0].coalescible = true;
        assert_int_equal(slack_delivery_release(d, &h), 0);
        assert_string_equal(send_next(d, SEC, &op), "c/1/parent");
        assert_int_equal(op, SLACK_OP_PARENT);
        assert_true(slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_OK, .ts = "5.5", .channel = "CID"},
            SEC));
        assert_true(slack_delivery_next_event(d, &e));
        assert_int_equal(e.kind, SLACK_DELIVERY_THREAD_TS);
        assert_string_equal(e.ts, "5.5");
        slack_delivery_event_done(&e);
        assert_string_equal(slack_delivery_thread_ts(d, "c/1"), "5.5");
        assert_string_equal(send_next(d, 2 * SEC, &op), "a");
        assert_int_equal(op, SLACK_OP_POST);
        slack_delivery_free(d);
}

/* A routine reply in thread c/1 (its parent's ts known, or NULL), held for the write at
 * write_usec; the caller releases it. */
static struct slack_outbox_held thread_reply(const char *key, const char *thread_ts,
                                             usec_t write_usec)
{
        struct slack_outbox_held h = {
            .thread = xstrdup("c/1"),
            .thread_ts = thread_ts ? xstrdup(thread_ts) : NULL,
            .summary = xstrdup("summary"),
            .line = xasprintf("line %s", key),
            .write_usec = write_usec,
            .msgs = {msg(key, NULL, true)},
            .n_msgs = 1,
        };

        h.msgs[0].thread = xstrdup("c/1");
        h.msgs[0].coalescible = true;
        return h;
}

/* A thread with more than SLACK_COALESCE_AT replies waiting folds the oldest one that nothing
 * has been sent of into its parent, and says which: a reply already on its way (here in
 * flight) is not folded, so the one folded may be a later event. */
static void test_thread_backlog_reports_folds(void **state)
{
        struct slack_delivery *d = new_delivery(true);
        const char *keys[] = {"started", "progressed", "promoted", "extra"};
        char *key_ = NULL, *into = NULL;
        enum slack_op op;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                struct slack_outbox_held h = thread_reply(keys[i], "5.5", WALL + i);

                assert_int_equal(slack_delivery_release(d, &h), 0);
                if (i == 0) { /* the first reply goes out and stays in flight */
                        assert_string_equal(send_next(d, SEC, &op), "started");
                        assert_int_equal(op, SLACK_OP_POST);
                }
        }
        /* four waiting, one of them in flight: the oldest untouched one is folded */
        assert_int_equal(folds(d, &key_, &into), 1);
        assert_string_equal(key_, "progressed");
        assert_string_equal(into, "its thread's parent");
        assert_int_equal(d->coalesced, 1);
        assert_true(slack_delivery_key_known(d, "progressed"));
        free(key_);
        free(into);
        slack_delivery_free(d);
}

/* A thread whose parent Slack refused for good goes on without threading: its replies go to the
 * channel one by one, none folds into a parent nobody will see, and no parent update stays owed
 * (the network-chaos finding that left an outbox owing forever). */
static void test_unthreaded_thread_folds_nothing(void **state)
{
        struct slack_delivery *d = new_delivery(true);
        const char *keys[] = {"a", "b", "c", "d", "e", "f"};
        enum slack_op op;
        usec_t now = SEC;
        size_t posted = 0;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                struct slack_outbox_held h = thread_reply(keys[i], NULL, WALL + i);

                assert_int_equal(slack_delivery_release(d, &h), 0);
                if (i == 0) {
                        assert_string_equal(send_next(d, now, &op), "c/1/parent");
                        assert_int_equal(op, SLACK_OP_PARENT);
                        answer(d, SLACK_OUTCOME_PERMANENT, now); /* e.g. not_in_channel */
                        assert_int_equal(drops(d, NULL), 1);
                        assert_string_equal(slack_delivery_thread_ts(d, "c/1"), "");
                }
        }
        /* nothing was folded: six replies, each posted on its own */
        while (slack_delivery_queue_length(d) > 0) {
                now += 2 * SEC;
                (void)send_next(d, now, &op);
                assert_int_equal(op, SLACK_OP_POST);
                answer(d, SLACK_OUTCOME_OK, now);
                posted++;
                assert_true(posted <= ELEMENTSOF(keys));
        }
        assert_int_equal(posted, ELEMENTSOF(keys));
        assert_int_equal(d->coalesced, 0);
        assert_false(slack_delivery_thread_busy(d, &d->threads[0]));
        slack_delivery_free(d);
}

/* An event another daemon may have posted (this one took the shard over): the parent of a
 * thread new to this daemon is looked for before anything is posted, then the reply is read
 * back in the thread it found; found, nothing is posted again. */
static void test_recovered_event_reads_back_first(void **state)
{
        struct slack_delivery *d = new_delivery(true);
        struct slack_outbox_held h = {
            .thread = xstrdup("c/1"),
            .summary = xstrdup("summary"),
            .line = xstrdup("line"),
            .write_usec = WALL,
            .msgs = {msg("c/r1/progressed/2", NULL, true)},
            .n_msgs = 1,
        };
        enum slack_op op;

        (void)state;
        h.msgs[0].thread = xstrdup("c/1");
        h.msgs[0].maybe_sent = true;
        assert_int_equal(slack_delivery_release(d, &h), 0);
        assert_string_equal(send_next(d, SEC, &op), "c/1/parent");
        assert_int_equal(op, SLACK_OP_VERIFY_PARENT);
        assert_false(slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_OK, .found = true, .ts = "7.7"}, SEC));
        assert_string_equal(slack_delivery_thread_ts(d, "c/1"), "7.7");
        assert_string_equal(send_next(d, 2 * SEC, &op), "c/r1/progressed/2");
        assert_int_equal(op, SLACK_OP_VERIFY);
        (void)slack_delivery_done(
            d, &(struct slack_outcome){.kind = SLACK_OUTCOME_OK, .found = true, .ts = "7.8"},
            2 * SEC);
        assert_true(slack_delivery_key_known(d, "c/r1/progressed/2"));
        /* what is left is the parent's update (our timeline): no post of the event */
        assert_string_equal(send_next(d, 4 * SEC, &op), "c/1/parent");
        assert_int_equal(op, SLACK_OP_UPDATE);
        answer(d, SLACK_OUTCOME_OK, 4 * SEC);
        assert_int_equal(slack_delivery_queue_length(d), 0);
        slack_delivery_free(d);
}

static void test_snapshot_restore(void **state)
{
        struct slack_delivery *d = new_delivery(true), *back = new_delivery(true);
        struct slack_outbox_held h = held("b", "c", WALL + 1, NULL);
        struct slack_outbox o, copy = {0};

        (void)state;
        queue(d, "a", NULL, false);
        assert_int_equal(slack_delivery_hold(d, &h, NULL), 0);
        send_next(d, SEC, NULL); /* a may have landed */
        slack_delivery_snapshot(d, &o);
        assert_int_equal(o.n_msgs, 1);
        assert_int_equal(o.n_held, 1);
        assert_true(o.msgs[0].maybe_sent);
        /* a deep copy, as the file would give it back */
        copy.msgs = xcalloc(1, sizeof(*copy.msgs));
        copy.msgs[0] = msg("a", NULL, false);
        copy.msgs[0].maybe_sent = true;
        copy.n_msgs = 1;
        copy.held = xcalloc(1, sizeof(*copy.held));
        copy.held[0] = held("b", "c", WALL + 1, NULL);
        copy.n_held = 1;
        slack_delivery_snapshot_done(&o);
        slack_delivery_restore(back, &copy);
        slack_outbox_done(&copy);
        assert_true(slack_delivery_key_held(back, "b"));
        {
                enum slack_op op;

                send_next(back, SEC, &op);
                assert_int_equal(op, SLACK_OP_VERIFY); /* the restarted one reads back */
        }
        slack_delivery_free(d);
        slack_delivery_free(back);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_paced_per_channel),
            cmocka_unit_test(test_retry_after_and_backoff),
            cmocka_unit_test(test_max_attempts_drop),
            cmocka_unit_test(test_maybe_sent_read_back),
            cmocka_unit_test(test_webhook_marked_resend),
            cmocka_unit_test(test_held_released_by_its_write),
            cmocka_unit_test(test_held_forget_and_expire),
            cmocka_unit_test(test_webhook_digest),
            cmocka_unit_test(test_thread_parent_first),
            cmocka_unit_test(test_thread_backlog_reports_folds),
            cmocka_unit_test(test_unthreaded_thread_folds_nothing),
            cmocka_unit_test(test_recovered_event_reads_back_first),
            cmocka_unit_test(test_snapshot_restore),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
