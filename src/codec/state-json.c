/* canaryd.io/state annotation codec; see state-json.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "canaryd/state-json.h"
#include "canaryd/util.h"

#define STATE_VERSION 1

char *format_rfc3339(usec_t t, char *buf, size_t size)
{
        time_t sec = (time_t)(t / USEC_PER_SEC);
        struct tm tm;
        char date[32];
        gmtime_r(&sec, &tm);
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, size, "%s.%06uZ", date, (unsigned)(t % USEC_PER_SEC));
        return buf;
}

static bool digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static int num(const char *s, size_t n)
{
        int v = 0;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + (s[i] - '0');
        return v;
}

/* RFC 3339, as Go's time.RFC3339 and Kubernetes write it: "2018-03-05T17:30:20Z",
 * "…20.123456Z", "…20-08:00"; fields of exactly their width, no leading blanks (strptime took
 * those). The one parser for the state annotation, Leases and exec credentials. */
int parse_rfc3339(const char *s, usec_t *ret)
{
        if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
            !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) ||
            s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
                return -EINVAL;
        struct tm tm = {
            .tm_year = num(s, 4) - 1900,
            .tm_mon = num(s + 5, 2) - 1,
            .tm_mday = num(s + 8, 2),
            .tm_hour = num(s + 11, 2),
            .tm_min = num(s + 14, 2),
            .tm_sec = num(s + 17, 2),
        };
        if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
            tm.tm_min > 59 || tm.tm_sec > 60)
                return -EINVAL;
        const char *p = s + 19;
        usec_t frac = 0;
        if (*p == '.') {
                unsigned n = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, n++)
                        if (n < 6)
                                frac = frac * 10 + (usec_t)(*p - '0');
                if (n == 0)
                        return -EINVAL;
                for (; n < 6; n++)
                        frac *= 10;
        }
        long offset = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' &&
                   digits(p + 4, 2)) {
                offset = (num(p + 1, 2) * 60L + num(p + 4, 2)) * 60L;
                if (*p == '-')
                        offset = -offset;
                p += 6;
        } else {
                return -EINVAL;
        }
        if (*p)
                return -EINVAL;
        time_t t = timegm(&tm);
        if (t == (time_t)-1 || (long long)t - offset < 0)
                return -EINVAL;
        *ret = (usec_t)((long long)t - offset) * USEC_PER_SEC + frac;
        return 0;
}

char *state_to_json(const struct rollout_state *s, const char *slack_thread_ts)
{
        char t[40];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "version", STATE_VERSION);
        cJSON_AddStringToObject(o, "phase", rollout_phase_to_string(s->phase));
        cJSON_AddNumberToObject(o, "step", s->step);
        cJSON_AddNumberToObject(o, "weight", s->weight);
        cJSON_AddStringToObject(o, "revision", s->revision);
        cJSON_AddNumberToObject(o, "failed_checks", s->failed_checks);
        cJSON_AddNumberToObject(o, "inconclusive_checks", s->inconclusive_checks);
        cJSON_AddNumberToObject(o, "analyses", s->analyses);
        cJSON_AddStringToObject(o, "started_at", format_rfc3339(s->started_usec, t, sizeof(t)));
        cJSON_AddStringToObject(o, "step_started_at",
                                format_rfc3339(s->step_started_usec, t, sizeof(t)));
        cJSON_AddStringToObject(o, "updated_at", format_rfc3339(s->updated_usec, t, sizeof(t)));
        cJSON_AddStringToObject(o, "actor", s->last_actor);
        cJSON_AddStringToObject(o, "reason", s->last_reason);
        if (s->approval_since_usec) /* only while it waits: older readers never see it */
                cJSON_AddStringToObject(o, "approval_since",
                                        format_rfc3339(s->approval_since_usec, t, sizeof(t)));
        if (s->trigger_revision[0])
                cJSON_AddStringToObject(o, "trigger_revision", s->trigger_revision);
        if (slack_thread_ts && *slack_thread_ts) /* only once known: older readers never see it */
                cJSON_AddStringToObject(o, "slack_thread_ts", slack_thread_ts);
        size_t n_times = 0; /* the known prefix: steps entered so far */
        while (n_times < ROLLOUT_STEP_TIMES && n_times < s->step && s->step_entered_ms[n_times])
                n_times++;
        if (n_times) {
                cJSON *a = cJSON_AddArrayToObject(o, "step_times");
                for (size_t i = 0; i < n_times; i++)
                        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s->step_entered_ms[i]));
        }
        char *json = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!json)
                abort(); /* cJSON fails only on OOM */
        char *copy = xstrdup(json);
        cJSON_free(json);
        return copy;
}

static int get_uint(const cJSON *o, const char *key, unsigned max, unsigned *ret, char **err)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
            v->valuedouble != (double)(unsigned)v->valuedouble) {
                *err = xasprintf("state: \"%s\" must be an integer in 0..%u", key, max);
                return -EINVAL;
        }
        *ret = (unsigned)v->valuedouble;
        return 0;
}

/* "step_times": epoch milliseconds at which steps 1.. were entered. Derived data (the canary's
 * traffic share for the sequential judge), so a malformed entry is only unknown (0), never a
 * reason to refuse the state. */
static void get_step_times(const cJSON *o, uint64_t *times, size_t n)
{
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "step_times");
        const cJSON *v;
        size_t i = 0;

        if (!cJSON_IsArray(a))
                return;
        cJSON_ArrayForEach (v, a) {
                if (i >= n)
                        break;
                double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
                /* integers up to 2^53, where doubles stop being exact */
                times[i++] =
                    x >= 1 && x <= 9007199254740992.0 && x == (double)(uint64_t)x ? (uint64_t)x : 0;
        }
}

static int get_string(const cJSON *o, const char *key, char *dst, size_t size, char **err)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!v) {
                dst[0] = '\0';
                return 0;
        }
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) {
                *err = xasprintf("state: \"%s\" must be a string under %zu bytes", key, size);
                return -EINVAL;
        }
        snprintf(dst, size, "%s", v->valuestring);
        return 0;
}

static int get_time(const cJSON *o, const char *key, usec_t *ret, char **err)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsString(v) || parse_rfc3339(v->valuestring, ret) < 0) {
                *err = xasprintf("state: \"%s\" must be an RFC 3339 UTC time", key);
                return -EINVAL;
        }
        return 0;
}

/* An optional time: absent is 0; present, it must be valid (a wait for approval is not guessed
 * away: dropping it would let the rollout go on without one). */
static int get_time_optional(const cJSON *o, const char *key, usec_t *ret, char **err)
{
        if (!cJSON_GetObjectItemCaseSensitive(o, key)) {
                *ret = 0;
                return 0;
        }
        return get_time(o, key, ret, err);
}

int state_from_json(const char *json, size_t len, size_t n_steps, struct rollout_state *ret,
                    char *ret_thread_ts, char **ret_error)
{
        struct rollout_state s;
        char thread_ts[SLACK_THREAD_TS_MAX] = "";
        char *err = NULL;
        int r = -EINVAL;

        rollout_state_init(&s);
        cJSON *o = cJSON_ParseWithLength(json, len);
        if (!cJSON_IsObject(o)) {
                err = xstrdup("state: not a JSON object");
                goto out;
        }
        const cJSON *phase = cJSON_GetObjectItemCaseSensitive(o, "phase");
        if (!cJSON_IsString(phase) || rollout_phase_from_string(phase->valuestring, &s.phase) < 0) {
                err = xstrdup("state: unknown \"phase\"");
                goto out;
        }
        if (get_uint(o, "step", (unsigned)n_steps, &s.step, &err) < 0 ||
            get_uint(o, "weight", 100, &s.weight, &err) < 0 ||
            get_uint(o, "failed_checks", 1000000, &s.failed_checks, &err) < 0 ||
            get_uint(o, "inconclusive_checks", 1000000, &s.inconclusive_checks, &err) < 0 ||
            get_uint(o, "analyses", 100000000, &s.analyses, &err) < 0 ||
            get_string(o, "revision", s.revision, sizeof(s.revision), &err) < 0 ||
            get_string(o, "actor", s.last_actor, sizeof(s.last_actor), &err) < 0 ||
            get_string(o, "reason", s.last_reason, sizeof(s.last_reason), &err) < 0 ||
            get_string(o, "trigger_revision", s.trigger_revision, sizeof(s.trigger_revision),
                       &err) < 0 ||
            get_string(o, "slack_thread_ts", thread_ts, sizeof(thread_ts), &err) < 0 ||
            get_time(o, "started_at", &s.started_usec, &err) < 0 ||
            get_time(o, "step_started_at", &s.step_started_usec, &err) < 0 ||
            get_time(o, "updated_at", &s.updated_usec, &err) < 0 ||
            get_time_optional(o, "approval_since", &s.approval_since_usec, &err) < 0)
                goto out;
        get_step_times(o, s.step_entered_ms, ROLLOUT_STEP_TIMES);
        if (rollout_is_running(&s) && s.step == 0) {
                err = xstrdup("state: a running rollout needs a step >= 1");
                goto out;
        }
        *ret = s;
        if (ret_thread_ts)
                memcpy(ret_thread_ts, thread_ts, sizeof(thread_ts));
        r = 0;
out:
        cJSON_Delete(o);
        if (r < 0 && ret_error)
                *ret_error = err;
        else
                free(err);
        return r;
}
