/* The plain reference kernel: one synapse per iteration, obviously right. */
#include "bs4nn_kernel.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_ref

void bs4nn_kernel_fanout(const uint32_t *weights, uint32_t row, uint32_t n,
                         bs4nn_count_t *ones)
{
    const uint32_t k = row * n;
    const uint32_t *p = weights + (k >> 5);
    uint32_t word = *p++ >> (k & 31u);
    uint32_t left = 32u - (k & 31u);
    uint32_t j;

    for (j = 0; j < n; j++) {
        if (left == 0) {
            word = *p++;
            left = 32u;
        }
        ones[j] = (bs4nn_count_t)(ones[j] + (bs4nn_count_t)(word & 1u));
        word >>= 1;
        left--;
    }
}

#endif
