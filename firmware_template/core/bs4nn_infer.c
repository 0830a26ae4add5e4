/* Event-driven BS4NN inference; the semantics are docs/design.md section 1, identical to
 * codegen/reference.py. */
#include "bs4nn_infer.h"

#include <string.h>

bs4nn_state_t bs4nn_state;

void bs4nn_init(void)
{
    memcpy(bs4nn_state.thresholds, bs4nn_default_thresholds, sizeof bs4nn_state.thresholds);
}

int bs4nn_set_thresholds(const int16_t k[BS4NN_NUM_LAYERS])
{
    int l;

    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        if (k[l] < 1) {
            return -1;
        }
    }
    memcpy(bs4nn_state.thresholds, k, sizeof bs4nn_state.thresholds);
    return 0;
}

const int16_t *bs4nn_thresholds(void)
{
    return bs4nn_state.thresholds;
}

const char *bs4nn_kernel_name(void)
{
    return BS4NN_KERNEL_NAME;
}

/* Counting sort of the spiking pixels by spike step t = 255 - I (I = 0 never spikes). */
static void bucket_inputs(const uint8_t *pixels)
{
    uint16_t *start = bs4nn_state.start;
    uint32_t i;
    uint32_t t;

    memset(start, 0, sizeof bs4nn_state.start);
    for (i = 0; i < BS4NN_N_INPUT; i++) {
        if (pixels[i] != 0) {
            start[(255u - pixels[i]) + 1u]++;
        }
    }
    /* After the prefix sum start[t + 1] = end of bucket t; filling backwards moves it down to
     * the start of bucket t, so bucket t is then order[start[t + 1] .. start[t + 2]). */
    for (t = 1; t < BS4NN_TMAX + 2; t++) {
        start[t] = (uint16_t)(start[t] + start[t - 1]);
    }
    for (i = BS4NN_N_INPUT; i-- > 0;) {
        if (pixels[i] != 0) {
            bs4nn_state.order[--start[(255u - pixels[i]) + 1u]] = (uint16_t)i;
        }
    }
}

/* Largest count wins, then the lowest index; over outputs with step == at (or all outputs when
 * at is BS4NN_NO_SPIKE, the fallback). All outputs received the same spikes, so comparing their
 * ones compares their counts; fired outputs carry the BS4NN_FIRED mark, which is taken off. */
static uint8_t pick_label(const bs4nn_count_t *ones, const uint16_t *steps, uint16_t at)
{
    uint32_t j;
    int32_t best = 0;
    int found = 0;
    uint8_t label = 0;

    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        int32_t v = ones[j];
        if (at != BS4NN_NO_SPIKE) {
            if (steps[j] != at) {
                continue;
            }
            v += BS4NN_FIRED;
        }
        if (!found || v > best) {
            best = v;
            label = (uint8_t)j;
            found = 1;
        }
    }
    return label;
}

static uint32_t slots(uint32_t n)
{
    return (n + 1u) & ~1u;
}

void bs4nn_infer(const uint8_t pixels[BS4NN_N_INPUT], bs4nn_result_t *r)
{
    bs4nn_state_t *s = &bs4nn_state;
    bs4nn_count_t *out = s->c.ones;
    uint32_t t;
    uint32_t l;
    uint32_t j;
    uint32_t n_out_fired = 0;

    for (l = 0; l + 1 < BS4NN_NUM_LAYERS; l++) {
        out += slots(bs4nn_layer_sizes[l + 1]);
    }
    memset(s->c.ones, 0, sizeof s->c.ones);
    memset(r, 0, sizeof *r);
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        r->output_steps[j] = BS4NN_NO_SPIKE;
    }
    bucket_inputs(pixels);

    for (t = 0; t < BS4NN_TMAX && n_out_fired == 0; t++) {
        uint32_t b = s->start[t + 1];
        const uint32_t e = s->start[t + 2];
        bs4nn_count_t *ones = s->c.ones; /* counters of weight layer l */
        int changed = (b != e);

        /* 1. all input spikes of step t */
        r->spikes[0] = (uint16_t)(r->spikes[0] + (e - b));
        for (; b < e; b++) {
            bs4nn_kernel_fanout(bs4nn_weights[0], s->order[b], bs4nn_layer_sizes[1], ones);
        }

        /* 2. layer by layer: neurons whose count reached K fire and feed the next layer at the
         * same step. A layer that received no spike this step cannot fire. count >= K is
         * 2 * ones - received >= K, i.e. ones >= ceil((K + received) / 2). */
        for (l = 0; l < BS4NN_NUM_LAYERS && changed; l++) {
            const uint32_t n = bs4nn_layer_sizes[l + 1];
            const int32_t need = ((int32_t)s->thresholds[l] + r->spikes[l] + 1) >> 1;
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
                    bs4nn_kernel_fanout(bs4nn_weights[l + 1], j, bs4nn_layer_sizes[l + 2], next);
                }
#endif
            }
            ones = next;
        }
    }

    if (n_out_fired != 0) {
        r->decision_step = (uint16_t)(t - 1);
        r->label = pick_label(out, r->output_steps, (uint16_t)(t - 1));
    } else {
        r->decision_step = BS4NN_TMAX - 1;
        r->flags = BS4NN_FLAG_FALLBACK;
        r->label = pick_label(out, r->output_steps, BS4NN_NO_SPIKE);
    }
}
