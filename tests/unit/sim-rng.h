/* Deterministic random numbers for simulations (xorshift64*, Box-Muller): the same stream for a
 * seed on every platform, so simulated rates in tests and benchmarks are reproducible. Header
 * only; shared by tests/unit/test-sequential.c and bench/bench-sequential.c. */
#pragma once

#include <math.h>
#include <stdint.h>

struct rng {
        uint64_t s; /* never 0: xorshift stays at 0 (rng_seed() sees to it) */
};

static inline struct rng rng_seed(uint64_t seed)
{
        return (struct rng){seed ? seed : 0x9e3779b97f4a7c15ULL};
}

static inline double rng_uniform(struct rng *r)
{
        r->s ^= r->s >> 12;
        r->s ^= r->s << 25;
        r->s ^= r->s >> 27;
        uint64_t x = r->s * 2685821657736338717ULL;
        return ((double)(x >> 11) + 0.5) / 9007199254740992.0;
}

static inline double rng_normal(struct rng *r)
{
        double u = rng_uniform(r), v = rng_uniform(r);
        return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static inline double rng_poisson(struct rng *r, double lambda)
{
        double limit = exp(-lambda), p = rng_uniform(r);
        double k = 0;
        while (p > limit) {
                p *= rng_uniform(r);
                k++;
        }
        return k;
}
