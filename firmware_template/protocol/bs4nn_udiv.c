/* Where the core has no divide instruction (Cortex-M0/M0+; and on the host, where the tests
 * check this loop), shift-and-subtract: libgcc's division routine is 266 bytes of flash on
 * Cortex-M0, this ~40 (the code budget is 8 KB); up to 32 steps. */
#include "bs4nn_udiv.h"

uint32_t bs4nn_udivmod(uint32_t n, uint32_t d, uint32_t *rem)
{
#if defined(__ARM_FEATURE_IDIV)
    *rem = n % d;
    return n / d;
#else
    uint32_t q = 0;
    uint32_t bit = 1;

    /* align d's top bit with n's (or with bit 31) */
    while (d < n && (d & 0x80000000u) == 0) {
        d <<= 1;
        bit <<= 1;
    }
    while (bit != 0) {
        if (n >= d) {
            n -= d;
            q |= bit;
        }
        d >>= 1;
        bit >>= 1;
    }
    *rem = n;
    return q;
#endif
}
