/* The start-up check of the Datadog API key (GET /api/v1/validate), repeated with backoff until
 * it passes: a rejected key is logged and shown in STATUS=, and never stops the daemon (every
 * analysis is then inconclusive, as a failing data source makes it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/datadog.h"
#include "canaryd/log.h"
#include "canaryd/util.h"
#include "datadog-key.h"

#define VALIDATE_RETRY_MIN (5 * USEC_PER_SEC)
#define VALIDATE_RETRY_MAX (300 * USEC_PER_SEC)

struct datadog_key {
        sd_event *event;
        struct datadog_client *client; /* borrowed; NULL: not checking */
        datadog_key_changed_fn changed;
        void *userdata;
        sd_event_source *validate_timer;
        unsigned validate_gen;
        usec_t validate_backoff;
        char *key_problem; /* owned: for STATUS=, NULL when the key is fine */
        bool accepted;     /* the current client's key passed a check */
};

struct validate_call {
        struct datadog_key *s;
        unsigned gen;
};

static void validate_send(struct datadog_key *s);

static int on_validate_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        validate_send(userdata);
        return 0;
}

static void validate_later(struct datadog_key *s, usec_t delay)
{
        int r = s->validate_timer
                    ? sd_event_source_set_time_relative(s->validate_timer, delay)
                    : sd_event_add_time_relative(s->event, &s->validate_timer, CLOCK_MONOTONIC,
                                                 delay, 100 * USEC_PER_MSEC, on_validate_timer, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->validate_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "datadog: cannot schedule the next API key check: %m");
}

static void set_key_problem(struct datadog_key *s, const char *problem)
{
        if ((!problem && !s->key_problem) ||
            (problem && s->key_problem && strcmp(problem, s->key_problem) == 0))
                return;
        free(s->key_problem);
        s->key_problem = xstrdup(problem);
        if (s->changed)
                s->changed(s->userdata);
}

static void on_validate(const struct datadog_result *res, void *userdata)
{
        struct validate_call *v = userdata;
        struct datadog_key *s = v->s;
        bool current = v->gen == s->validate_gen;
        free(v);
        if (!current || res->error == -ECANCELED || !s->client)
                return; /* a reload replaced the client, or we are stopping */

        usec_t next = s->validate_backoff ? 2 * s->validate_backoff : VALIDATE_RETRY_MIN;
        if (next > VALIDATE_RETRY_MAX)
                next = VALIDATE_RETRY_MAX;
        if (res->error == 0) {
                if (s->key_problem)
                        log_notice("datadog: the API key is accepted now");
                else
                        log_info("datadog: API key valid (%s, api %s)",
                                 datadog_client_base_url(s->client),
                                 datadog_api_to_string(datadog_client_api(s->client)));
                s->validate_backoff = 0;
                s->accepted = true;
                set_key_problem(s, NULL);
                return;
        }
        s->validate_backoff = next;
        if (res->error == -EACCES) {
                s->accepted = false;
                log_error("datadog: the API key was rejected by GET /api/v1/validate: %s; every "
                          "analysis will be inconclusive until it is fixed; checking again in "
                          "%llus",
                          res->message, (unsigned long long)(next / USEC_PER_SEC));
                set_key_problem(s, "datadog API key rejected");
        } else {
                log_warning("datadog: cannot check the API key: %s; checking again in %llus",
                            res->message, (unsigned long long)(next / USEC_PER_SEC));
        }
        validate_later(s, next);
}

static void validate_send(struct datadog_key *s)
{
        if (!s->client)
                return;
        struct validate_call *v = xmalloc(sizeof(*v));
        *v = (struct validate_call){.s = s, .gen = s->validate_gen};
        int r = datadog_validate(s->client, on_validate, v);
        if (r < 0) {
                free(v);
                log_warning_errno(r, "datadog: cannot check the API key: %m");
                validate_later(s, VALIDATE_RETRY_MIN);
        }
}

struct datadog_key *datadog_key_new(sd_event *event, datadog_key_changed_fn changed, void *userdata)
{
        struct datadog_key *s = xcalloc(1, sizeof(*s));
        *s = (struct datadog_key){.event = event, .changed = changed, .userdata = userdata};
        return s;
}

void datadog_key_check(struct datadog_key *s, struct datadog_client *client)
{
        s->client = client;
        s->accepted = false;
        s->validate_gen++; /* answers to the previous client's checks are ignored */
        s->validate_backoff = 0;
        if (s->validate_timer)
                sd_event_source_set_enabled(s->validate_timer, SD_EVENT_OFF);
        validate_send(s);
}

bool datadog_key_accepted(const struct datadog_key *s)
{
        return s && s->accepted;
}

const char *datadog_key_problem(const struct datadog_key *s)
{
        return s ? s->key_problem : NULL;
}

struct datadog_key *datadog_key_free(struct datadog_key *s)
{
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->validate_timer);
        free(s->key_problem);
        free(s);
        return NULL;
}
