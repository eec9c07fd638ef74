/* The canary driver (daemon/driver.c) against a loopback fake of the Kubernetes API, with no
 * main.c, Datadog or Slack: events in, GET / decide / PUT / read-back out. A start writes the
 * first step's weights and the state annotation together; a pass moves to the next step; a
 * verdict for a step the rollout has left changes nothing; an abort writes 0 %; a 409 re-reads
 * and decides again from the new object; a hand edit of the weights pauses the rollout without
 * touching the edited weights; a refused write changes nothing and is retried. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../../src/daemon/daemon.h"
#include "../../src/daemon/driver.h"
#include "canaryd/config-load.h"
#include "canaryd/http.h"
#include "canaryd/kube.h"
#include "canaryd/state-json.h"
#include "canaryd/vs.h"
#include "fake-http.h"

/* ---- the fake API server: one VirtualService, resourceVersions, 409 on a stale write ------- */

#define VS_NAME "shop/virtualservices/web"

struct kube_fake {
        struct fake_threads t;
        pthread_mutex_t lock; /* guards everything below */
        cJSON *vs;            /* the stored object */
        unsigned rv;
        unsigned gets, puts;
        unsigned conflict_next; /* answer this many PUTs with 409 (after a write by "someone") */
        unsigned refuse_next;   /* answer this many PUTs with 422 */
        unsigned put_weights[16];
};

static cJSON *vs_new(unsigned canary_weight)
{
        char *text = xasprintf(
            "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"VirtualService\","
            "\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"1\","
            "\"uid\":\"4b1d\"},\"spec\":{\"hosts\":[\"web\"],\"http\":[{\"route\":["
            "{\"destination\":{\"host\":\"web\"},\"weight\":%u},"
            "{\"destination\":{\"host\":\"web-canary\"},\"weight\":%u}]}]}}",
            100 - canary_weight, canary_weight);
        cJSON *o = cJSON_Parse(text);
        free(text);
        assert_non_null(o);
        return o;
}

static cJSON *route(cJSON *vs, int i)
{
        cJSON *http =
            cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(vs, "spec"), "http"), 0);
        return cJSON_GetArrayItem(cJSON_GetObjectItem(http, "route"), i);
}

static unsigned canary_weight_of(cJSON *vs)
{
        return (unsigned)cJSON_GetNumberValue(cJSON_GetObjectItem(route(vs, 1), "weight"));
}

/* Sets the routes as a person with kubectl would: weights only, annotation untouched. Locked. */
static void hand_edit(struct kube_fake *k, unsigned canary_weight)
{
        pthread_mutex_lock(&k->lock);
        cJSON_SetNumberValue(cJSON_GetObjectItem(route(k->vs, 0), "weight"), 100 - canary_weight);
        cJSON_SetNumberValue(cJSON_GetObjectItem(route(k->vs, 1), "weight"), canary_weight);
        char rv[16];
        snprintf(rv, sizeof(rv), "%u", ++k->rv);
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(k->vs, "metadata"), "resourceVersion",
                                  cJSON_CreateString(rv));
        pthread_mutex_unlock(&k->lock);
}

static void respond(int fd, int status, const char *body)
{
        char *resp = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                               "Content-Length: %zu\r\n\r\n%s",
                               status, strlen(body), body);
        fake_send_all(fd, resp, strlen(resp));
        free(resp);
}

static const char status_409[] =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"Operation cannot be fulfilled on virtualservices.networking.istio.io "
    "\\\"web\\\": the object has been modified; please apply your changes to the latest version "
    "and try again\",\"reason\":\"Conflict\",\"details\":{\"name\":\"web\",\"group\":"
    "\"networking.istio.io\",\"kind\":\"virtualservices\"},\"code\":409}";
static const char status_422[] =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"admission webhook denied the request\",\"reason\":\"Invalid\",\"code\":422}";

/* One request of a kept-alive connection: GET or PUT of the VirtualService. */
static void handle(struct kube_fake *k, int fd, const char *head, const char *body, size_t len)
{
        bool put = strncmp(head, "PUT ", 4) == 0;
        char *text;

        pthread_mutex_lock(&k->lock);
        if (!strstr(head, VS_NAME " ")) {
                pthread_mutex_unlock(&k->lock);
                respond(fd, 404, "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\"}");
                return;
        }
        if (!put) {
                k->gets++;
                text = cJSON_PrintUnformatted(k->vs);
                pthread_mutex_unlock(&k->lock);
                respond(fd, 200, text);
                free(text);
                return;
        }
        k->puts++;
        cJSON *obj = cJSON_ParseWithLength(body, len);
        const char *rv = cJSON_GetStringValue(
            cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "resourceVersion"));
        char current[16];
        snprintf(current, sizeof(current), "%u", k->rv);
        if (k->conflict_next > 0) {
                /* someone else wrote first: the stored object moves on */
                k->conflict_next--;
                snprintf(current, sizeof(current), "%u", ++k->rv);
                cJSON_ReplaceItemInObject(cJSON_GetObjectItem(k->vs, "metadata"), "resourceVersion",
                                          cJSON_CreateString(current));
        }
        if (!obj || !rv || strcmp(rv, current) != 0) {
                pthread_mutex_unlock(&k->lock);
                cJSON_Delete(obj);
                respond(fd, 409, status_409);
                return;
        }
        if (k->refuse_next > 0) {
                k->refuse_next--;
                pthread_mutex_unlock(&k->lock);
                cJSON_Delete(obj);
                respond(fd, 422, status_422);
                return;
        }
        snprintf(current, sizeof(current), "%u", ++k->rv);
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(obj, "metadata"), "resourceVersion",
                                  cJSON_CreateString(current));
        cJSON_Delete(k->vs);
        k->vs = obj;
        if (k->puts <= 16)
                k->put_weights[k->puts - 1] = canary_weight_of(obj);
        text = cJSON_PrintUnformatted(obj);
        pthread_mutex_unlock(&k->lock);
        respond(fd, 200, text);
        free(text);
}

static void serve(void *userdata, int fd, unsigned index)
{
        struct kube_fake *k = userdata;
        struct buf in = {0};
        char chunk[65536];

        (void)index;
        for (;;) {
                const char *end = in.data ? strstr(in.data, "\r\n\r\n") : NULL;
                if (end) {
                        size_t head = (size_t)(end - in.data) + 4;
                        const char *cl = strcasestr(in.data, "\r\nContent-Length: ");
                        size_t want = cl && cl < end ? (size_t)strtoul(cl + 18, NULL, 10) : 0;
                        if (in.len >= head + want) {
                                char *h = xstrndup(in.data, head);
                                handle(k, fd, h, in.data + head, want);
                                free(h);
                                /* keep what follows: the next request on this connection */
                                memmove(in.data, in.data + head + want, in.len - head - want);
                                in.len -= head + want;
                                in.data[in.len] = '\0';
                                continue;
                        }
                }
                ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
                if (r <= 0)
                        break;
                buf_append(&in, chunk, (size_t)r);
        }
        buf_free(&in);
}

/* ---- a daemon with one canary and only the parts the driver needs -------------------------- */

static const char config_fmt[] = "state_dir: %s\n"
                                 "kubernetes: {kubeconfig: %s/kubeconfig}\n"
                                 "canaries:\n"
                                 "  - name: web\n"
                                 "    namespace: shop\n"
                                 "    virtual_service: web\n"
                                 "    stable: {host: web}\n"
                                 "    canary: {host: web-canary}\n"
                                 "    steps: [10, 50]\n"
                                 "    interval: 1h\n"
                                 "    metrics:\n"
                                 "      - name: errors\n"
                                 "        query: \"sum:errors{svc:web-canary}\"\n"
                                 "        judge: threshold\n"
                                 "        max: 1\n";

struct env {
        struct kube_fake k;
        char dir[64];
        struct daemon d;
        struct canary *c;
};

static void write_file(const char *dir, const char *name, const char *text)
{
        char *path = xasprintf("%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        free(path);
}

static void env_start(struct env *e)
{
        struct config_problems problems = {0};
        char *err = NULL;

        memset(e, 0, sizeof(*e));
        pthread_mutex_init(&e->k.lock, NULL);
        e->k.vs = vs_new(0);
        e->k.rv = 1;
        fake_threads_start(&e->k.t, FAKE_THREADS_MAX, 64, serve, NULL, &e->k);

        snprintf(e->dir, sizeof(e->dir), "/tmp/canaryd-driver.XXXXXX");
        assert_non_null(mkdtemp(e->dir));
        char *kubeconfig =
            xasprintf("apiVersion: v1\nkind: Config\ncurrent-context: t\n"
                      "clusters: [{name: c, cluster: {server: \"http://127.0.0.1:%d\"}}]\n"
                      "users: [{name: u, user: {token: t0k3n}}]\n"
                      "contexts: [{name: t, context: {cluster: c, user: u, namespace: shop}}]\n",
                      e->k.t.port);
        write_file(e->dir, "kubeconfig", kubeconfig);
        free(kubeconfig);
        char *text = xasprintf(config_fmt, e->dir, e->dir);
        int r = config_parse(text, strlen(text), &e->d.config, &problems);
        for (size_t i = 0; i < problems.n; i++)
                print_error("config:%u:%u: %s\n", problems.items[i].line, problems.items[i].column,
                            problems.items[i].message);
        assert_int_equal(r, 0);
        config_problems_free(&problems);
        free(text);

        struct daemon *d = &e->d;
        d->committed = canary_committed; /* what main.c sets */
        assert_int_equal(sd_event_new(&d->event), 0);
        assert_int_equal(http_client_new(d->event, &d->http), 0);
        assert_int_equal(kube_client_new(d->event, d->http, d->config->kubernetes.kubeconfig, NULL,
                                         5000, &d->kube, &err),
                         0);
        free(err);
        /* no Datadog client: an analysis would be inconclusive; interval 1h keeps them away */
        assert_int_equal(analysis_sched_new(d->event, &canary_analysis_callbacks, &d->sched), 0);
        d->canaries = xcalloc(1, sizeof(*d->canaries));
        d->n_canaries = 1;
        e->c = &d->canaries[0];
        assert_int_equal(canary_init(e->c, d, &d->config->canaries[0]), 0);
}

static void env_stop(struct env *e)
{
        struct daemon *d = &e->d;

        d->stopping = true;
        canary_done(e->c);
        free(d->canaries);
        d->sched = analysis_sched_free(d->sched);
        d->kube = kube_client_free(d->kube);
        d->http = http_client_free(d->http);
        sd_event_source_disable_unref(d->status_timer);
        sd_event_source_disable_unref(d->ready_defer);
        sd_event_source_disable_unref(d->barrier_defer);
        sd_event_source_disable_unref(d->idle_defer);
        free(d->last_status);
        sd_event_unref(d->event);
        fake_threads_stop(&e->k.t);
        cJSON_Delete(e->k.vs);
        pthread_mutex_destroy(&e->k.lock);
        char *cmd = xasprintf("rm -rf '%s'", e->dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        config_free(d->config);
}

/* Runs the loop until the canary's cycle is over and its queue empty (5 s at most). */
static void settle(struct env *e)
{
        usec_t until = fake_mono_usec() + 5 * USEC_PER_SEC;

        do
                assert_true(sd_event_run(e->d.event, 10 * USEC_PER_MSEC) >= 0);
        while ((e->c->busy || e->c->n_queue > 0 || !e->c->loaded) && fake_mono_usec() < until);
        assert_false(e->c->busy);
}

static unsigned puts_seen(struct env *e)
{
        pthread_mutex_lock(&e->k.lock);
        unsigned n = e->k.puts;
        pthread_mutex_unlock(&e->k.lock);
        return n;
}

static unsigned stored_weight(struct env *e)
{
        pthread_mutex_lock(&e->k.lock);
        unsigned w = canary_weight_of(e->k.vs);
        pthread_mutex_unlock(&e->k.lock);
        return w;
}

/* The canaryd.io/state annotation of the stored object, parsed. */
static struct rollout_state stored_state(struct env *e)
{
        struct rollout_state s;
        char *err = NULL;

        pthread_mutex_lock(&e->k.lock);
        const char *json = cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(e->k.vs, "metadata"), "annotations"),
            VS_STATE_ANNOTATION));
        assert_non_null(json);
        assert_int_equal(state_from_json(json, strlen(json), 2, &s, NULL, &err), 0);
        pthread_mutex_unlock(&e->k.lock);
        return s;
}

static void submit(struct env *e, struct rollout_event ev)
{
        canary_submit(e->c, &ev);
        settle(e);
}

static void start(struct env *e)
{
        submit(e, (struct rollout_event){.kind = EV_TICK});
        assert_true(e->c->loaded);
        assert_int_equal(e->c->state.phase, ROLLOUT_IDLE);
        assert_int_equal(puts_seen(e), 0); /* nothing to write for an idle canary */
        submit(e, (struct rollout_event){.kind = EV_CMD_START, .revision = "v2"});
}

static void start_pass_stale_abort(void **state)
{
        struct env e;
        (void)state;

        env_start(&e);
        start(&e);
        assert_int_equal(puts_seen(&e), 1);
        assert_int_equal(stored_weight(&e), 10);
        struct rollout_state s = stored_state(&e);
        assert_int_equal(s.phase, ROLLOUT_PROGRESSING);
        assert_int_equal(s.step, 1);
        assert_string_equal(s.revision, "v2");
        assert_int_equal(e.c->state.weight, 10);
        usec_t step1_started = e.c->state.step_started_usec;

        submit(&e, (struct rollout_event){.kind = EV_ANALYSIS,
                                          .analysis = ANALYSIS_PASS,
                                          .for_step = 1,
                                          .for_step_started_usec = step1_started});
        assert_int_equal(puts_seen(&e), 2);
        assert_int_equal(stored_weight(&e), 50);
        assert_int_equal(stored_state(&e).step, 2);

        /* the verdict of step 1 arriving late: the rollout has left that step */
        submit(&e, (struct rollout_event){.kind = EV_ANALYSIS,
                                          .analysis = ANALYSIS_FAIL_CRITICAL,
                                          .for_step = 1,
                                          .for_step_started_usec = step1_started});
        assert_int_equal(puts_seen(&e), 2);
        assert_int_equal(stored_weight(&e), 50);
        assert_int_equal(e.c->state.phase, ROLLOUT_PROGRESSING);

        submit(&e, (struct rollout_event){
                       .kind = EV_CMD_ABORT, .reason = "bad release", .actor = "uid:1000"});
        assert_int_equal(puts_seen(&e), 3);
        assert_int_equal(stored_weight(&e), 0);
        s = stored_state(&e);
        assert_int_equal(s.phase, ROLLOUT_ROLLED_BACK);
        assert_string_equal(s.last_reason, "bad release");
        assert_int_equal(e.k.put_weights[0], 10);
        assert_int_equal(e.k.put_weights[1], 50);
        assert_int_equal(e.k.put_weights[2], 0);
        env_stop(&e);
}

static void conflict_rereads_and_decides_again(void **state)
{
        struct env e;
        (void)state;

        env_start(&e);
        submit(&e, (struct rollout_event){.kind = EV_TICK});
        unsigned gets_before = e.k.gets;
        e.k.conflict_next = 1;
        submit(&e, (struct rollout_event){.kind = EV_CMD_START, .revision = "v2"});
        /* the 409, then a GET of the new object and one more PUT, which lands */
        assert_int_equal(puts_seen(&e), 2);
        assert_true(e.k.gets > gets_before);
        assert_int_equal(stored_weight(&e), 10);
        assert_int_equal(stored_state(&e).phase, ROLLOUT_PROGRESSING);
        assert_int_equal(e.c->state.weight, 10);
        env_stop(&e);
}

static void hand_edit_pauses_and_keeps_the_edit(void **state)
{
        struct env e;
        (void)state;

        env_start(&e);
        start(&e);
        assert_int_equal(stored_weight(&e), 10);
        hand_edit(&e.k, 0); /* someone sends every request to the stable version */
        submit(&e, (struct rollout_event){.kind = EV_TICK});
        assert_int_equal(puts_seen(&e), 2);
        struct rollout_state s = stored_state(&e);
        assert_int_equal(s.phase, ROLLOUT_PAUSED);
        assert_int_equal(stored_weight(&e), 0); /* the person's weights stay */
        assert_int_equal(e.c->state.phase, ROLLOUT_PAUSED);
        env_stop(&e);
}

static void refused_write_changes_nothing(void **state)
{
        struct env e;
        (void)state;

        env_start(&e);
        submit(&e, (struct rollout_event){.kind = EV_TICK});
        e.k.refuse_next = 1;
        canary_submit(e.c, &(struct rollout_event){.kind = EV_CMD_START, .revision = "v2"});
        /* the 422 holds the weights; the retry (after about a second) writes them */
        usec_t until = fake_mono_usec() + 800 * USEC_PER_MSEC;
        while (fake_mono_usec() < until)
                assert_true(sd_event_run(e.d.event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(puts_seen(&e), 1);
        assert_int_equal(stored_weight(&e), 0);
        assert_int_equal(e.c->state.phase, ROLLOUT_IDLE);
        assert_non_null(e.c->last_error);
        assert_non_null(strstr(e.c->last_error, "422"));
        settle(&e);
        assert_int_equal(puts_seen(&e), 2);
        assert_int_equal(stored_weight(&e), 10);
        assert_int_equal(e.c->state.phase, ROLLOUT_PROGRESSING);
        env_stop(&e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(start_pass_stale_abort),
            cmocka_unit_test(conflict_rereads_and_decides_again),
            cmocka_unit_test(hand_edit_pauses_and_keeps_the_edit),
            cmocka_unit_test(refused_write_changes_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
