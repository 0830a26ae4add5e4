/* Inference kernels: how the counts of docs/design.md section 1 are kept and updated. Included
 * by bs4nn_infer.h (after bs4nn_result_t).
 *
 * A kernel is chosen at build time with -DBS4NN_KERNEL=<name> (default: sliced). Every kernel
 * gives exactly the same results as the plain reference kernel `ref` (tests hold them
 * bit-exact); only speed and state layout differ. Kernel families:
 *   - counter kernels (ref, packed): one int16 counter per neuron, stepped by
 *     bs4nn_counters.c; the kernel adds one spike's fan-out (bs4nn_kernel_fanout).
 *   - sliced: bit-sliced counters, 32 neurons per word (bs4nn_kernel_sliced.c).
 * To add one: write bs4nn_kernel_<name>.c guarded by `#if BS4NN_KERNEL_ID ==
 * BS4NN_KERNEL_ID_<name>` and give it an id below.
 */
#ifndef BS4NN_KERNEL_H
#define BS4NN_KERNEL_H

#include <stdint.h>

#include "bs4nn_model.h"

#define BS4NN_KERNEL_ID_ref 1
#define BS4NN_KERNEL_ID_packed 2
#define BS4NN_KERNEL_ID_sliced 3

#ifndef BS4NN_KERNEL
#define BS4NN_KERNEL sliced
#endif

#define BS4NN_CAT_(a, b) a##b
#define BS4NN_CAT(a, b) BS4NN_CAT_(a, b)
#define BS4NN_STR_(x) #x
#define BS4NN_STR(x) BS4NN_STR_(x)
#define BS4NN_KERNEL_ID BS4NN_CAT(BS4NN_KERNEL_ID_, BS4NN_KERNEL)
#define BS4NN_KERNEL_NAME BS4NN_STR(BS4NN_KERNEL)

#if !BS4NN_KERNEL_ID
#error "unknown BS4NN_KERNEL: use ref, packed or sliced"
#endif

/* Input pixels bucketed by spike step t = 255 - I: bucket t is order[start[t] ..
 * start[t + 1]), each entry the pixel index times `stride` (the kernel's row offset). */
void bs4nn_bucket_inputs(const uint8_t *pixels, uint16_t *order, uint16_t *start,
                         uint32_t stride);

/* Run one inference with thresholds k into r (r cleared, output steps BS4NN_NO_SPIKE). */
void bs4nn_kernel_infer(const uint8_t *pixels, const int16_t *k, bs4nn_result_t *r);

/* Largest count wins, then the lowest index, among the outputs with fired[j] != 0 (all of them
 * when fired is 0: the fallback). ones[j] is output j's count of +1 synapses: all outputs
 * received the same spikes, so comparing ones compares counts. */
uint8_t bs4nn_pick_label(const int32_t *ones, const uint8_t *fired);

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_sliced

/* Bit-sliced counters: lane word w of a layer holds 32 neurons; plane p of it holds bit p of
 * their ones. Planes enough for the largest fan-in, at least 4 (a carry-save sum of up to 15
 * rows is added as four planes). */
#define BS4NN_PLANES                                                                       \
    (BS4NN_MAX_FAN_IN < 16 ? 4 : BS4NN_MAX_FAN_IN < 32 ? 5 : BS4NN_MAX_FAN_IN < 64 ? 6       \
     : BS4NN_MAX_FAN_IN < 128 ? 7 : BS4NN_MAX_FAN_IN < 256 ? 8 : BS4NN_MAX_FAN_IN < 512 ? 9 \
     : BS4NN_MAX_FAN_IN < 1024 ? 10 : BS4NN_MAX_FAN_IN < 2048 ? 11                        \
     : BS4NN_MAX_FAN_IN < 4096 ? 12 : BS4NN_MAX_FAN_IN < 8192 ? 13                        \
     : BS4NN_MAX_FAN_IN < 16384 ? 14 : BS4NN_MAX_FAN_IN < 32768 ? 15 : 16)

#if BS4NN_LAYER0_WORDS > 65536
#error "the sliced kernel keeps input row offsets in uint16: build with make KERNEL=packed"
#endif

/* lane words of the first weight layer: the words of a row of its weights */
#define BS4NN_FIRST_LANE_WORDS (BS4NN_LAYER0_WORDS / BS4NN_N_INPUT)

typedef struct {
    uint32_t planes[BS4NN_LANE_WORDS][BS4NN_PLANES];
    /* the scan for due words steps one pointer over trig and reaches alive and synced from it
     * (synced is 32-bit for that); with trig before alive GCC steps it with trig's load, one
     * instruction fewer per word (docs/kernels.md, thirteenth entry) */
    uint32_t trig[BS4NN_LANE_WORDS];   /* spikes received before which no lane can fire */
    uint32_t alive[BS4NN_LANE_WORDS];  /* lanes that have not fired */
    /* the first layer's words: the input spikes already in their planes */
    uint32_t synced[BS4NN_FIRST_LANE_WORDS];
    uint16_t order[BS4NN_N_INPUT];
    uint16_t start[BS4NN_TMAX + 2];
} bs4nn_state_t;

#else /* counter kernels */

/* Counters hold, per neuron, the number of +1 synapses among the spikes received so far
 * ("ones"); the signed count of docs/design.md is 2 * ones - spikes received, the same for every
 * neuron of a layer, so the core compares ones against a per-step bound. A fired neuron's ones
 * drop by BS4NN_FIRED so it never looks ready again; this needs fan-in < BS4NN_FIRED. Hidden
 * layers are at most 4096 wide, so only a very wide input needs 32-bit counters. */
#define BS4NN_COUNT16_MAX_INPUTS 16383 /* the widest input that 16-bit counters hold */
#if BS4NN_N_INPUT <= BS4NN_COUNT16_MAX_INPUTS
typedef int16_t bs4nn_count_t;
#define BS4NN_FIRED 16384
#else
typedef int32_t bs4nn_count_t;
#define BS4NN_FIRED 1073741824L
#endif

/* Counter slots: every layer starts at an even slot (word-aligned counter pairs). */
#define BS4NN_COUNT_SLOTS (BS4NN_TOTAL_NEURONS + BS4NN_NUM_LAYERS)

/* The counters of every non-input neuron and the bucketed input pixels. */
typedef struct {
    union {
        bs4nn_count_t ones[BS4NN_COUNT_SLOTS];
        uint32_t align; /* word-aligned: kernels may access counter pairs as words */
    } c;
    uint16_t order[BS4NN_N_INPUT];
    uint16_t start[BS4NN_TMAX + 2];
} bs4nn_state_t;

/* Add the fan-out of one spiking input (its row of BS4NN_WORDS(n) weight words, bit j % 32 of
 * word j / 32 for neuron j; docs/design.md section 3) to the n counters of the next layer:
 * counter j grows by 1 where the bit is 1. `ones` is 4-byte aligned. */
void bs4nn_kernel_fanout(const uint32_t *row, uint32_t n, bs4nn_count_t *ones);

#endif

#endif /* BS4NN_KERNEL_H */
