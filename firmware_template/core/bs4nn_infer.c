/* Event-driven BS4NN inference; the semantics are docs/design.md section 1, identical to
 * codegen/reference.py. What every kernel shares: thresholds, input bucketing, the label. */
#include "bs4nn_infer.h"

#include <string.h>

bs4nn_state_t bs4nn_state;
static int16_t thresholds[BS4NN_NUM_LAYERS];

void bs4nn_init(void)
{
    memcpy(thresholds, bs4nn_default_thresholds, sizeof thresholds);
}

int bs4nn_set_thresholds(const int16_t k[BS4NN_NUM_LAYERS])
{
    int l;

    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        if (k[l] < 1) {
            return -1;
        }
    }
    memcpy(thresholds, k, sizeof thresholds);
    return 0;
}

const int16_t *bs4nn_thresholds(void)
{
    return thresholds;
}

const char *bs4nn_kernel_name(void)
{
    return BS4NN_KERNEL_NAME;
}

/* Four pixels at once: most are 0 in the images this is made for. memcpy keeps it portable
 * (one load where the core allows unaligned words, byte loads elsewhere). */
static int four_zero(const uint8_t *p)
{
    uint32_t w;

    memcpy(&w, p, sizeof w);
    return w == 0;
}

/* Counting sort of the spiking pixels by spike step t = 255 - I (I = 0 never spikes). */
void bs4nn_bucket_inputs(const uint8_t *pixels, uint16_t *order, uint16_t *start,
                         uint32_t stride)
{
    const uint8_t *const end = pixels + BS4NN_N_INPUT;
    const uint8_t *p;
    uint32_t t;

    /* 1. start[t + 2] = pixels spiking at step t (start[257 - I]) */
    memset(start, 0, (BS4NN_TMAX + 2) * sizeof *start);
    for (p = pixels; p < end; p++) {
        if (end - p >= 4 && four_zero(p)) {
            p += 3;
        } else if (*p != 0) {
            start[257u - *p]++;
        }
    }
    /* 2. start[t + 1] = pixels spiking before step t: where bucket t begins */
    for (t = 2; t < BS4NN_TMAX + 2; t++) {
        start[t] = (uint16_t)(start[t] + start[t - 1]);
    }
    /* 3. filling bucket t moves start[t + 1] to its end, which is where bucket t + 1 begins:
     * afterwards bucket t is order[start[t] .. start[t + 1]) */
    for (p = pixels; p < end; p++) {
        if (end - p >= 4 && four_zero(p)) {
            p += 3;
        } else if (*p != 0) {
            order[start[256u - *p]++] = (uint16_t)((uint32_t)(p - pixels) * stride);
        }
    }
}

uint8_t bs4nn_pick_label(const int32_t *ones, const uint8_t *fired)
{
    uint32_t j;
    int32_t best = 0;
    int found = 0;
    uint8_t label = 0;

    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        if (fired != 0 && !fired[j]) {
            continue;
        }
        if (!found || ones[j] > best) {
            best = ones[j];
            label = (uint8_t)j;
            found = 1;
        }
    }
    return label;
}

void bs4nn_infer(const uint8_t pixels[BS4NN_N_INPUT], bs4nn_result_t *r)
{
    uint32_t j;

    memset(r, 0, sizeof *r);
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        r->output_steps[j] = BS4NN_NO_SPIKE;
    }
    bs4nn_kernel_infer(pixels, thresholds, r);
}
