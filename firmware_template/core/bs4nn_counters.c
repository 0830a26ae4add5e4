/* The step loop of the counter kernels (ref, packed): one int16 counter per neuron, every step
 * adds the step's spikes with bs4nn_kernel_fanout and scans the layer for counts >= K. */
#include "bs4nn_infer.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_ref || BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_packed

#include <string.h>

static uint32_t slots(uint32_t n)
{
    return (n + 1u) & ~1u;
}

static uint32_t row_words(uint32_t n)
{
    return BS4NN_WORDS(n);
}

static const bs4nn_count_t *output_counters(void)
{
    const bs4nn_count_t *out = bs4nn_state.c.ones;
    uint32_t l;

    for (l = 0; l + 1 < BS4NN_NUM_LAYERS; l++) {
        out += slots(bs4nn_layer_sizes[l + 1]);
    }
    return out;
}

/* A fired output carries the BS4NN_FIRED mark (it is negative then), which is taken off. */
void bs4nn_output_ones(int32_t ones[BS4NN_N_OUTPUT])
{
    const bs4nn_count_t *out = output_counters();
    uint32_t j;

    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        ones[j] = out[j] < 0 ? (int32_t)out[j] + BS4NN_FIRED : out[j];
    }
}

void bs4nn_kernel_infer(const uint8_t *pixels, const int16_t *k, bs4nn_result_t *r)
{
    bs4nn_state_t *s = &bs4nn_state;
    int32_t out_ones[BS4NN_N_OUTPUT];
    uint8_t out_fired[BS4NN_N_OUTPUT];
    uint32_t t;
    uint32_t l;
    uint32_t j;
    uint32_t n_out_fired = 0;

    memset(s->c.ones, 0, sizeof s->c.ones);
    bs4nn_bucket_inputs(pixels, s->order, s->start, 1u);

    for (t = 0; t < BS4NN_TMAX && n_out_fired == 0; t++) {
        uint32_t b = s->start[t];
        const uint32_t e = s->start[t + 1];
        bs4nn_count_t *ones = s->c.ones; /* counters of weight layer l */
        int changed = (b != e);

        /* 1. all input spikes of step t */
        r->spikes[0] = (uint16_t)(r->spikes[0] + (e - b));
        for (; b < e; b++) {
            bs4nn_kernel_fanout(bs4nn_weights[0] + s->order[b] * row_words(bs4nn_layer_sizes[1]),
                                bs4nn_layer_sizes[1], ones);
        }

        /* 2. layer by layer: neurons whose count reached K fire and feed the next layer at the
         * same step. A layer that received no spike this step cannot fire. count >= K is
         * 2 * ones - received >= K, i.e. ones >= ceil((K + received) / 2). */
        for (l = 0; l < BS4NN_NUM_LAYERS && changed; l++) {
            const uint32_t n = bs4nn_layer_sizes[l + 1];
            const int32_t need = ((int32_t)k[l] + r->spikes[l] + 1) >> 1;
            bs4nn_count_t *const next = ones + slots(n);
            const int last = (l + 1 == BS4NN_NUM_LAYERS);

            changed = 0;
            for (j = 0; j < n; j++) {
                if (ones[j] < need) {
                    continue;
                }
                ones[j] = (bs4nn_count_t)(ones[j] - BS4NN_FIRED);
                r->spikes[l + 1]++;
                changed = 1;
                if (last) {
                    r->output_steps[j] = (uint16_t)t;
                    n_out_fired++;
                }
#if BS4NN_NUM_LAYERS > 1 /* (no next layer to index without a hidden layer) */
                else {
                    const uint32_t m = bs4nn_layer_sizes[l + 2];
                    bs4nn_kernel_fanout(bs4nn_weights[l + 1] + j * row_words(m), m, next);
                }
#endif
            }
            ones = next;
        }
    }

    bs4nn_output_ones(out_ones);
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        out_fired[j] = (uint8_t)(n_out_fired != 0 && r->output_steps[j] == t - 1);
    }
    if (n_out_fired != 0) {
        r->decision_step = (uint16_t)(t - 1);
        r->label = bs4nn_pick_label(out_ones, out_fired);
    } else {
        r->decision_step = BS4NN_TMAX - 1;
        r->flags = BS4NN_FLAG_FALLBACK;
        r->label = bs4nn_pick_label(out_ones, 0);
    }
}

#endif
