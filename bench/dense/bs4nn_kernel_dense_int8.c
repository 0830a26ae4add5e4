/* Benchmark baseline, not product code: a dense int8 MLP of the model's shape (784-600-10 for
 * MNIST) in plain C: int8 weights (random; the speed does not depend on them), int32
 * accumulators, ReLU, requantised to int8 by a shift; the largest output wins.
 *
 * bench/kernels.py copies this file into an export's core/, writes bs4nn_dense_weights.h and
 * builds it as the firmware's kernel (make KERNEL=dense_int8
 * EXTRA_CFLAGS=-DBS4NN_KERNEL_ID_dense_int8=10), so the emulated board counts its instructions
 * like those of the BS4NN kernels. Two weight layers only. */
#include "bs4nn_infer.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_dense_int8

#include "bs4nn_dense_weights.h"

static int8_t dense_hidden[BS4NN_DENSE_HIDDEN];

void bs4nn_kernel_infer(const uint8_t *pixels, const int16_t *k, bs4nn_result_t *r)
{
    uint32_t i;
    uint32_t j;
    int32_t best = 0;

    (void)k;
    for (j = 0; j < BS4NN_DENSE_HIDDEN; j++) {
        const int8_t *w = bs4nn_dense_w1[j];
        int32_t acc = bs4nn_dense_b1[j];
        for (i = 0; i < BS4NN_N_INPUT; i++) {
            acc += (int32_t)(pixels[i] >> 1) * w[i]; /* input quantised to 0..127 */
        }
        acc = acc > 0 ? acc >> BS4NN_DENSE_SHIFT : 0;
        dense_hidden[j] = (int8_t)(acc > 127 ? 127 : acc);
    }
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        const int8_t *w = bs4nn_dense_w2[j];
        int32_t acc = bs4nn_dense_b2[j];
        for (i = 0; i < BS4NN_DENSE_HIDDEN; i++) {
            acc += (int32_t)dense_hidden[i] * w[i];
        }
        if (j == 0 || acc > best) {
            best = acc;
            r->label = (uint8_t)j;
        }
    }
    r->decision_step = BS4NN_TMAX - 1;
    r->flags = BS4NN_FLAG_FALLBACK;
}

/* Needed by the EEMBC text mode's scores only, which bench/kernels.py does not use. */
void bs4nn_output_ones(int32_t ones[BS4NN_N_OUTPUT])
{
    uint32_t j;

    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        ones[j] = 0;
    }
}

#endif
