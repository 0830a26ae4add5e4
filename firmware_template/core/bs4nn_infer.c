/* Event-driven BS4NN inference; the semantics are docs/design.md section 1, identical to the
 * integer reference (codegen/reference_kernels.py). What every kernel shares: thresholds,
 * input bucketing, the label. */
#include "bs4nn_infer.h"

#include <string.h>

bs4nn_state_t bs4nn_state;
static int16_t thresholds[BS4NN_NUM_LAYERS];

/* thresholds copied in a loop: memcpy is a call to libc on Cortex-M0 (~140 bytes of flash) */
static void set_all(const int16_t *k)
{
    int l;

    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        thresholds[l] = k[l];
    }
}

void bs4nn_init(void)
{
    set_all(bs4nn_default_thresholds);
}

int bs4nn_set_thresholds(const int16_t k[BS4NN_NUM_LAYERS])
{
    int l;

    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        if (k[l] < 1) {
            return -1;
        }
    }
    set_all(k);
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

/* Four pixels, 0 when all four are: most are 0 in the images this is made for, so the scan
 * tests eight at once, then each four. A word load (memcpy, portable) where the core allows
 * unaligned words; on Arm cores that do not (Cortex-M0/M0+) memcpy is a call to libc, ~33
 * instructions, so the four bytes are ORed instead. */
static uint32_t four_pixels(const uint8_t *p)
{
#if defined(__arm__) && !defined(__ARM_FEATURE_UNALIGNED)
    return (uint32_t)(p[0] | p[1] | p[2] | p[3]);
#else
    uint32_t a;

    memcpy(&a, p, sizeof a);
    return a;
#endif
}

/* Pixel i, if it spikes: counted in start[257 - I] and listed at *--list. */
static inline uint16_t *count_pixel(const uint8_t *pixels, uint32_t i, uint16_t *start,
                                    uint16_t *list)
{
    const uint32_t v = pixels[i];

    if (v != 0) {
        start[257u - v]++;
        *--list = (uint16_t)i;
    }
    return list;
}

/* Pixel i (spiking) goes to the end of its bucket. */
static inline void place_pixel(const uint8_t *pixels, uint32_t i, uint16_t *order,
                               uint16_t *start, uint32_t stride)
{
    order[start[256u - pixels[i]]++] = (uint16_t)(i * stride);
}

/* Counting sort of the spiking pixels by spike step t = 255 - I (I = 0 never spikes). */
void bs4nn_bucket_inputs(const uint8_t *pixels, uint16_t *order, uint16_t *start,
                         uint32_t stride)
{
    uint16_t *const end = order + BS4NN_N_INPUT;
    uint16_t *list = end; /* the spiking pixels, listed downwards from the end of order[] */
    uint32_t i;
    uint32_t t;
    uint32_t acc = 0;

    /* 1. start[t + 2] = pixels spiking at step t (start[257 - I]) */
    for (t = 0; t < BS4NN_TMAX + 2; t += 6) { /* 258 = 43 x 6; a loop, not libc's memset */
        start[t] = 0;
        start[t + 1] = 0;
        start[t + 2] = 0;
        start[t + 3] = 0;
        start[t + 4] = 0;
        start[t + 5] = 0;
    }
    for (i = 0; i + 8u <= BS4NN_N_INPUT; i += 8u) {
        const uint32_t a = four_pixels(pixels + i);
        const uint32_t b = four_pixels(pixels + i + 4u);

        if ((a | b) == 0) {
            continue;
        }
        if (a != 0) {
            list = count_pixel(pixels, i, start, list);
            list = count_pixel(pixels, i + 1u, start, list);
            list = count_pixel(pixels, i + 2u, start, list);
            list = count_pixel(pixels, i + 3u, start, list);
        }
        if (b != 0) {
            list = count_pixel(pixels, i + 4u, start, list);
            list = count_pixel(pixels, i + 5u, start, list);
            list = count_pixel(pixels, i + 6u, start, list);
            list = count_pixel(pixels, i + 7u, start, list);
        }
    }
    for (; i < BS4NN_N_INPUT; i++) {
        list = count_pixel(pixels, i, start, list);
    }
    /* 2. start[t + 1] = pixels spiking before step t: where bucket t begins */
    for (t = 2; t < BS4NN_TMAX + 2; t += 4) { /* BS4NN_TMAX is 256 */
        acc += start[t];
        start[t] = (uint16_t)acc;
        acc += start[t + 1];
        start[t + 1] = (uint16_t)acc;
        acc += start[t + 2];
        start[t + 2] = (uint16_t)acc;
        acc += start[t + 3];
        start[t + 3] = (uint16_t)acc;
    }
    /* 3. filling bucket t moves start[t + 1] to its end, which is where bucket t + 1 begins:
     * afterwards bucket t is order[start[t] .. start[t + 1]). Buckets fill order[0 .. n) for
     * n spiking pixels; the list holds order[N - n .. N): while n <= N / 2 they do not meet,
     * else the pixels are read again. */
    if (acc <= BS4NN_N_INPUT / 2u) {
        for (; list != end; list++) {
            place_pixel(pixels, *list, order, start, stride);
        }
        return;
    }
    for (i = 0; i < BS4NN_N_INPUT; i++) {
        if (pixels[i] != 0) {
            place_pixel(pixels, i, order, start, stride);
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

    r->label = 0;
    r->flags = 0;
    r->decision_step = 0;
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        r->output_steps[j] = BS4NN_NO_SPIKE;
    }
    for (j = 0; j <= BS4NN_NUM_LAYERS; j++) {
        r->spikes[j] = 0;
    }
    bs4nn_kernel_infer(pixels, thresholds, r);
}
