/* Benchmark baseline, not product code: a dense binary MLP of the model's shape and weights
 * (its +-1 signs), without time: every spiking pixel (I > 0) is a 1 input. A neuron's count is
 * 2 * popcount(weights AND inputs) - inputs (AND + SWAR popcount over whole words); a hidden
 * neuron is on when its count reaches the model's K; the output with the largest count wins.
 *
 * Built by bench/kernels.py like bs4nn_kernel_dense_int8.c (KERNEL=dense_binary, weights in
 * bs4nn_dense_weights.h, neuron-major: one row of input words per neuron). */
#include "bs4nn_infer.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_dense_binary

#include "bs4nn_dense_weights.h"

#define IN_WORDS BS4NN_WORDS(BS4NN_N_INPUT)
#define HIDDEN_WORDS BS4NN_WORDS(BS4NN_DENSE_HIDDEN)

static uint32_t dense_in[IN_WORDS];
static uint32_t dense_on[HIDDEN_WORDS];

static uint32_t popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

static int32_t count(const uint32_t *w, const uint32_t *x, uint32_t words, int32_t inputs)
{
    int32_t ones = 0;
    uint32_t i;

    for (i = 0; i < words; i++) {
        ones += (int32_t)popcount32(w[i] & x[i]);
    }
    return 2 * ones - inputs;
}

void bs4nn_kernel_infer(const uint8_t *pixels, const int16_t *k, bs4nn_result_t *r)
{
    uint32_t i;
    uint32_t j;
    int32_t inputs = 0;
    int32_t on = 0;
    int32_t best = 0;

    for (i = 0; i < IN_WORDS; i++) {
        dense_in[i] = 0;
    }
    for (i = 0; i < HIDDEN_WORDS; i++) {
        dense_on[i] = 0;
    }
    for (i = 0; i < BS4NN_N_INPUT; i++) {
        if (pixels[i] != 0) {
            dense_in[i / 32u] |= 1u << (i % 32u);
            inputs++;
        }
    }
    for (j = 0; j < BS4NN_DENSE_HIDDEN; j++) {
        if (count(bs4nn_dense_bw1[j], dense_in, IN_WORDS, inputs) >= k[0]) {
            dense_on[j / 32u] |= 1u << (j % 32u);
            on++;
        }
    }
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        const int32_t c = count(bs4nn_dense_bw2[j], dense_on, HIDDEN_WORDS, on);
        if (j == 0 || c > best) {
            best = c;
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
