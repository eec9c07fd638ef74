/* Log rate limit: burst events per window, the rest counted for one summary. Pure. */
#include "canaryd/ratelimit.h"

usec_t ratelimit_end(const struct ratelimit *r)
{
        return r->begin_usec + r->interval_usec;
}

unsigned ratelimit_flush(struct ratelimit *r, usec_t now)
{
        if (!r->started || now < ratelimit_end(r))
                return 0;
        unsigned missed = r->suppressed;
        r->suppressed = 0;
        return missed;
}

bool ratelimit_test(struct ratelimit *r, usec_t now, unsigned *ret_missed)
{
        *ret_missed = 0;
        if (r->interval_usec == 0 || r->burst == 0)
                return true;
        if (!r->started || now >= ratelimit_end(r) || now < r->begin_usec) {
                *ret_missed = r->suppressed;
                r->suppressed = 0;
                r->begin_usec = now;
                r->passed = 0;
                r->started = true;
        }
        if (r->passed < r->burst) {
                r->passed++;
                return true;
        }
        r->suppressed++;
        return false;
}
