/* The outage record as JSON (canaryd/outage-json.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "canaryd/outage-json.h"
#include "canaryd/util.h"

char *outage_record_to_json(const struct outage_record *r)
{
        return xasprintf("{\"since\":%llu,\"checks\":%u,\"step\":%u,\"step_started\":%llu}\n",
                         (unsigned long long)r->since_usec, r->checks, r->step,
                         (unsigned long long)r->step_started_usec);
}

/* A whole number in [0, max]; max at most 2^53, where doubles stop being exact. */
static bool get_whole(const cJSON *o, const char *key, double max, uint64_t *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > max ||
            v->valuedouble != (double)(uint64_t)v->valuedouble)
                return false;
        *ret = (uint64_t)v->valuedouble;
        return true;
}

int outage_record_from_json(const char *text, size_t len, struct outage_record *ret)
{
        cJSON *o = cJSON_ParseWithLength(text, len);
        uint64_t since, checks, step, started;
        const double usec_max = 9007199254740992.0;
        bool ok = cJSON_IsObject(o) && get_whole(o, "since", usec_max, &since) &&
                  get_whole(o, "checks", OUTAGE_CHECKS_MAX, &checks) &&
                  get_whole(o, "step", OUTAGE_STEP_MAX, &step) &&
                  get_whole(o, "step_started", usec_max, &started);

        cJSON_Delete(o);
        if (!ok)
                return -EINVAL;
        *ret = (struct outage_record){since, (unsigned)checks, (unsigned)step, started};
        return 0;
}
