/* Word-at-a-time kernel: after the first partial word, 32 synapses per loaded weight word with
 * the bit loop unrolled, so there is no per-bit word bookkeeping. Bit-exact with ref. */
#include "bs4nn_kernel.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_unrolled

/* bit 1 -> +1, bit 0 -> -1 */
#define ADD(c, w, b) (c)[b] = (bs4nn_count_t)((c)[b] + (int32_t)((((w) >> (b)) & 1u) << 1) - 1)
#define ADD4(c, w, b) ADD(c, w, b); ADD(c, w, (b) + 1); ADD(c, w, (b) + 2); ADD(c, w, (b) + 3)

static void add_bits(bs4nn_count_t *c, uint32_t w, uint32_t n)
{
    uint32_t j;

    for (j = 0; j < n; j++) {
        c[j] = (bs4nn_count_t)(c[j] + (int32_t)((w & 1u) << 1) - 1);
        w >>= 1;
    }
}

void bs4nn_kernel_fanout(const uint32_t *weights, uint32_t row, uint32_t n,
                         bs4nn_count_t *counts)
{
    const uint32_t k = row * n;
    const uint32_t *p = weights + (k >> 5);
    const uint32_t shift = k & 31u;
    uint32_t j = 0;

    if (shift != 0) { /* the rest of a word shared with the previous row */
        j = 32u - shift < n ? 32u - shift : n;
        add_bits(counts, *p++ >> shift, j);
    }
    for (; j + 32u <= n; j += 32u) {
        const uint32_t w = *p++;
        bs4nn_count_t *c = counts + j;
        ADD4(c, w, 0);
        ADD4(c, w, 4);
        ADD4(c, w, 8);
        ADD4(c, w, 12);
        ADD4(c, w, 16);
        ADD4(c, w, 20);
        ADD4(c, w, 24);
        ADD4(c, w, 28);
    }
    if (j < n) {
        add_bits(counts + j, *p, n - j);
    }
}

#endif
