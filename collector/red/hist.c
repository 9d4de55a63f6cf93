/* hist.c - the compact log-linear latency histogram of hist.h.
 * Owns bucket indexing, window moves and the exact pairwise downscale.
 * Never allocates, never fails: values outside the range are clamped and
 * counts saturate. */
#include <math.h>
#include <string.h>
#include "flywheel/hist.h"

_Static_assert((32u << FW_HIST_MIN_SCALE) <= FW_HIST_SLOTS,
               "the coarsest scale must hold the whole uint32 range");
_Static_assert(sizeof(fw_hist) == 32 + 4 * FW_HIST_SLOTS, "fw_hist layout is documented");

/* Bucket index of |v| >= 1 at scale |s|: octave k = floor(log2 v) in the
 * high bits, the top |s| bits below the leading one in the low bits. For
 * k < s the low bits are a multiple of 2^(s-k) (some sub-buckets unused),
 * which is what makes index_{s-1}(v) == index_s(v) >> 1 for every v. */
static uint32_t bucket_index(uint32_t v, unsigned s)
{
    unsigned k = 31u - (unsigned)__builtin_clz(v);
    uint64_t frac = (((uint64_t)v << s) >> k) - (1u << s);
    return ((uint32_t)k << s) | (uint32_t)frac;
}

/* Smallest integer value of bucket |idx| at scale |s|, and one past the
 * largest (real bounds [L, U) rounded up). */
static void bucket_bounds(uint32_t idx, unsigned s, uint64_t *lo, uint64_t *hi_excl)
{
    unsigned k = idx >> s;
    uint64_t f = idx & ((1u << s) - 1u);
    uint64_t one = (uint64_t)1 << s;
    uint64_t num_lo = (one + f) << k, num_hi = (one + f + 1u) << k;
    *lo = (num_lo + one - 1u) >> s;
    *hi_excl = (num_hi + one - 1u) >> s;
    if (*hi_excl <= *lo) *hi_excl = *lo + 1u;
}

static uint32_t sat_add32(uint32_t a, uint64_t b, uint8_t *saturated)
{
    uint64_t r = (uint64_t)a + b;
    if (r > UINT32_MAX) {
        *saturated = 1;
        return UINT32_MAX;
    }
    return (uint32_t)r;
}

static uint64_t sat_add64(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

void fw_hist_init(fw_hist *h)
{
    memset(h, 0, sizeof *h);
    h->scale = FW_HIST_MAX_SCALE;
}

/* Range [first, last] of used bucket indices; returns 0 when no bucket is
 * used (only zeros or empty). */
static int used_range(const fw_hist *h, uint32_t *first, uint32_t *last)
{
    int any = 0;
    for (uint32_t i = 0; i < FW_HIST_SLOTS; i++) {
        if (!h->counts[i]) continue;
        if (!any) *first = h->lo + i;
        *last = h->lo + i;
        any = 1;
    }
    return any;
}

/* Re-expresses the buckets at scale |s| <= h->scale with window start
 * |lo|. The caller guarantees every used index >> (h->scale - s) lands in
 * [lo, lo + FW_HIST_SLOTS). */
static void rebase(fw_hist *h, unsigned s, uint32_t lo)
{
    uint32_t out[FW_HIST_SLOTS];
    unsigned shift = h->scale - s;
    memset(out, 0, sizeof out);
    for (uint32_t i = 0; i < FW_HIST_SLOTS; i++) {
        if (!h->counts[i]) continue;
        uint32_t j = ((h->lo + i) >> shift) - lo;
        out[j] = sat_add32(out[j], h->counts[i], &h->saturated);
    }
    memcpy(h->counts, out, sizeof out);
    h->scale = (uint8_t)s;
    h->lo = (uint16_t)lo;
}

/* Makes the window cover indices [first, last] given at scale |s| (which
 * is <= h->scale), together with what the histogram already holds,
 * downscaling as far as needed. Returns the final scale. */
static unsigned cover(fw_hist *h, unsigned s, uint32_t first, uint32_t last)
{
    uint32_t uf = 0, ul = 0;
    int used = used_range(h, &uf, &ul);
    for (;;) {
        uint32_t a = first, b = last;
        if (used) {
            unsigned shift = h->scale - s;
            if ((uf >> shift) < a) a = uf >> shift;
            if ((ul >> shift) > b) b = ul >> shift;
        }
        /* At FW_HIST_MIN_SCALE every index fits (static assert above). */
        if (b - a + 1u <= FW_HIST_SLOTS || s <= FW_HIST_MIN_SCALE) {
            if (used && s == h->scale && a >= h->lo && b < (uint32_t)h->lo + FW_HIST_SLOTS)
                return s;
            /* Centre the used range in the window so that later values a
             * little above or below still fit without a move. */
            uint32_t width = b - a + 1u;
            uint32_t slack = width < FW_HIST_SLOTS ? FW_HIST_SLOTS - width : 0u;
            uint32_t lo = a > slack / 2u ? a - slack / 2u : 0u;
            rebase(h, s, lo);
            return s;
        }
        s--;
        first >>= 1;
        last >>= 1;
    }
}

static void record_bucket(fw_hist *h, uint32_t v, uint64_t n)
{
    uint32_t idx = bucket_index(v, h->scale);
    if (idx < h->lo || idx >= (uint32_t)h->lo + FW_HIST_SLOTS) {
        cover(h, h->scale, idx, idx);
        idx = bucket_index(v, h->scale);
    }
    uint32_t *c = &h->counts[idx - h->lo];
    *c = sat_add32(*c, n, &h->saturated);
}

static int is_empty(const fw_hist *h)
{
    return h->count == 0;
}

void fw_hist_record(fw_hist *h, uint64_t value_us, uint32_t n)
{
    if (n == 0) return;
    uint64_t prod;
    if (__builtin_mul_overflow(value_us, (uint64_t)n, &prod)) prod = UINT64_MAX;
    h->sum = sat_add64(h->sum, prod);
    uint32_t v = value_us > FW_HIST_MAX_US ? FW_HIST_MAX_US : (uint32_t)value_us;
    if (is_empty(h) || v < h->min) h->min = v;
    if (is_empty(h) || v > h->max) h->max = v;
    h->count = sat_add64(h->count, n);
    if (v == 0)
        h->zero = sat_add32(h->zero, n, &h->saturated);
    else
        record_bucket(h, v, n);
}

void fw_hist_record_weighted(fw_hist *h, uint64_t value_us, double weight)
{
    if (!(weight > 0.0)) return; /* also NaN */
    uint32_t n = weight >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)llround(weight);
    fw_hist_record(h, value_us, n ? n : 1u);
}

void fw_hist_merge(fw_hist *dst, const fw_hist *src)
{
    fw_hist copy;
    if (is_empty(src)) return;
    if (dst == src) {
        copy = *src;
        src = &copy;
    }
    if (is_empty(dst)) {
        *dst = *src;
        return;
    }
    dst->sum = sat_add64(dst->sum, src->sum);
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    dst->count = sat_add64(dst->count, src->count);
    dst->zero = sat_add32(dst->zero, src->zero, &dst->saturated);
    if (src->saturated) dst->saturated = 1;

    uint32_t sf = 0, sl = 0;
    if (!used_range(src, &sf, &sl)) return;
    unsigned s = dst->scale < src->scale ? dst->scale : src->scale;
    unsigned sshift = src->scale - s;
    s = cover(dst, s, sf >> sshift, sl >> sshift);
    sshift = src->scale - s;
    for (uint32_t i = 0; i < FW_HIST_SLOTS; i++) {
        if (!src->counts[i]) continue;
        uint32_t j = ((src->lo + i) >> sshift) - dst->lo;
        dst->counts[j] = sat_add32(dst->counts[j], src->counts[i], &dst->saturated);
    }
}

uint64_t fw_hist_count(const fw_hist *h)
{
    return h->count;
}
uint64_t fw_hist_sum(const fw_hist *h)
{
    return h->sum;
}
uint64_t fw_hist_min(const fw_hist *h)
{
    return h->min;
}
uint64_t fw_hist_max(const fw_hist *h)
{
    return h->max;
}

double fw_hist_rel_error(const fw_hist *h)
{
    return ldexp(1.0, -(int)h->scale - 1);
}

/* Total of the bucket counts: equals |count| unless a bucket saturated;
 * quantile ranks use it so that the walk always ends in a bucket. */
static uint64_t bucket_total(const fw_hist *h)
{
    uint64_t t = h->zero;
    for (uint32_t i = 0; i < FW_HIST_SLOTS; i++) t += h->counts[i];
    return t;
}

double fw_hist_quantile(const fw_hist *h, double q)
{
    if (is_empty(h)) return 0.0;
    if (!(q > 0.0)) return (double)h->min; /* also NaN */
    if (q >= 1.0) return (double)h->max;
    uint64_t total = bucket_total(h);
    double r = ceil(q * (double)total);
    uint64_t rank = r < 1.0 ? 1u : (r >= (double)total ? total : (uint64_t)r);
    uint64_t cum = h->zero;
    if (cum >= rank) return 0.0;
    double rep = (double)h->max;
    for (uint32_t i = 0; i < FW_HIST_SLOTS; i++) {
        cum += h->counts[i];
        if (cum >= rank) {
            uint64_t lo, hi_excl;
            bucket_bounds(h->lo + i, h->scale, &lo, &hi_excl);
            rep = ((double)lo + (double)(hi_excl - 1u)) / 2.0;
            break;
        }
    }
    if (rep < (double)h->min) rep = (double)h->min;
    if (rep > (double)h->max) rep = (double)h->max;
    return rep;
}

static const uint64_t prom_bounds_us[FW_HIST_PROM_NBOUNDS] = {
    2000,   4000,   6000,    8000,    10000,   50000,   100000,   200000,
    400000, 800000, 1000000, 1400000, 2000000, 5000000, 10000000, 15000000,
};
static const char *const prom_labels[FW_HIST_PROM_NBOUNDS] = {
    "0.002", "0.004", "0.006", "0.008", "0.01", "0.05", "0.1", "0.2",
    "0.4",   "0.8",   "1",     "1.4",   "2",    "5",    "10",  "15",
};

const uint64_t *fw_hist_prom_bounds_us(void)
{
    return prom_bounds_us;
}

const char *fw_hist_prom_bound_label(size_t i)
{
    return i < FW_HIST_PROM_NBOUNDS ? prom_labels[i] : NULL;
}

/* Count of recorded values <= |bound|, estimated from the buckets. */
static uint64_t count_le(const fw_hist *h, uint64_t bound)
{
    if (is_empty(h)) return 0;
    if (bound >= h->max) return h->count;
    if (bound < h->min) return 0;
    uint64_t total = h->zero;
    for (uint32_t i = 0; i < FW_HIST_SLOTS; i++) {
        uint64_t c = h->counts[i];
        if (!c) continue;
        uint64_t lo, hi_excl;
        bucket_bounds(h->lo + i, h->scale, &lo, &hi_excl);
        /* Narrow the bucket to [min, max] where they fall inside it. */
        if (lo < h->min) lo = h->min;
        if (hi_excl > (uint64_t)h->max + 1u) hi_excl = (uint64_t)h->max + 1u;
        if (hi_excl <= lo) hi_excl = lo + 1u;
        if (hi_excl - 1u <= bound) {
            total += c;
        } else if (lo <= bound) {
            double frac = (double)(bound - lo + 1u) / (double)(hi_excl - lo);
            total += (uint64_t)llround((double)c * frac);
        } else {
            break;
        }
    }
    return total > h->count ? h->count : total;
}

void fw_hist_cumulative(const fw_hist *h, const uint64_t *bounds_us, size_t n, uint64_t *out)
{
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t c = count_le(h, bounds_us[i]);
        if (c < prev) c = prev; /* bounds given out of order: stay monotone */
        out[i] = prev = c;
    }
}
