/* Packed kernel: two 16-bit counters per 32-bit word, four synapses per table look-up.
 *
 * A counter grows by 0 or 1 per spike and, read as 16 unsigned bits, stays at most 0xFFFF
 * (before firing 0..fan-in, after it 0xC000 + ones), so adding to both halves of a word at
 * once never carries from one counter into the other. Every 32 neurons
 * take one weight word of the row; the last n % 32 go one by one.
 * Bit-exact with ref (tests/test_c_core.py). */
#include "bs4nn_infer.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_packed

#ifndef __GNUC__
#error "the packed kernel needs GCC or Clang (__may_alias__): build with make KERNEL=ref"
#endif
#if BS4NN_N_INPUT > BS4NN_COUNT16_MAX_INPUTS
#error "the packed kernel needs 16-bit counters (inputs < 16384): build with make KERNEL=ref"
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the packed kernel's counter pairs are little-endian: build with make KERNEL=ref"
#endif

/* nibble b3 b2 b1 b0 -> { b0 | b1 << 16, b2 | b3 << 16 } (little-endian counter pairs) */
static const uint32_t spread[16][2] = {
    {0x00000u, 0x00000u}, {0x00001u, 0x00000u}, {0x10000u, 0x00000u}, {0x10001u, 0x00000u},
    {0x00000u, 0x00001u}, {0x00001u, 0x00001u}, {0x10000u, 0x00001u}, {0x10001u, 0x00001u},
    {0x00000u, 0x10000u}, {0x00001u, 0x10000u}, {0x10000u, 0x10000u}, {0x10001u, 0x10000u},
    {0x00000u, 0x10001u}, {0x00001u, 0x10001u}, {0x10000u, 0x10001u}, {0x10001u, 0x10001u},
};

/* A counter pair viewed as one word. may_alias (GCC, Clang: every toolchain we build with) tells
 * the compiler these word accesses alias the int16 counters; they are word-aligned because
 * every layer starts at an even counter slot of a word-aligned array and j steps by 32. */
typedef uint32_t __attribute__((__may_alias__)) pair_t;

#define NIBBLE(c, w, q)                                   \
    do {                                                  \
        const uint32_t *s_ = spread[((w) >> (4u * (q))) & 15u]; \
        (c)[2 * (q)] += s_[0];                            \
        (c)[2 * (q) + 1] += s_[1];                        \
    } while (0)

void bs4nn_kernel_fanout(const uint32_t *row, uint32_t n, bs4nn_count_t *ones)
{
    uint32_t j;

    for (j = 0; j + 32u <= n; j += 32u) {
        const uint32_t w = *row++;
        pair_t *c = (pair_t *)(void *)(ones + j);

        NIBBLE(c, w, 0);
        NIBBLE(c, w, 1);
        NIBBLE(c, w, 2);
        NIBBLE(c, w, 3);
        NIBBLE(c, w, 4);
        NIBBLE(c, w, 5);
        NIBBLE(c, w, 6);
        NIBBLE(c, w, 7);
    }
    if (j < n) {
        const uint32_t w = *row;
        uint32_t b;
        for (b = 0; j < n; j++, b++) {
            const bs4nn_count_t bit = (bs4nn_count_t)((w >> b) & 1u);
            ones[j] = (bs4nn_count_t)(ones[j] + bit);
        }
    }
}

#endif
