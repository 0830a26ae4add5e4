/* The plain reference kernel: one synapse per iteration, obviously right. */
#include "bs4nn_infer.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_ref

void bs4nn_kernel_fanout(const uint32_t *row, uint32_t n, bs4nn_count_t *ones)
{
    uint32_t j;

    for (j = 0; j < n; j++) {
        const uint32_t bit = (row[j / 32u] >> (j % 32u)) & 1u;
        ones[j] = (bs4nn_count_t)(ones[j] + (bs4nn_count_t)bit);
    }
}

#endif
