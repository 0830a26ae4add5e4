/* BS4NN event-driven inference (docs/design.md section 1): no malloc, no floating point.
 *
 * Every buffer is sized from the generated model header. The inference state lives in one
 * static struct (bs4nn_state, its layout the kernel's, reported by bench/firmware_size.py and
 * mirrored by codegen/footprint.py); the caller owns the input pixels and the result.
 */
#ifndef BS4NN_INFER_H
#define BS4NN_INFER_H

#include <stdint.h>

#include "bs4nn_model.h"

#if BS4NN_N_OUTPUT > 256
#error "the label is a u8: at most 256 outputs"
#endif
#if BS4NN_TMAX != 256
#error "the input coding t = 255 - I needs tmax = 256"
#endif

#define BS4NN_NO_SPIKE 0xFFFFu    /* output firing step of an output that did not fire */
#define BS4NN_FLAG_FALLBACK 0x01u /* no output fired by t = tmax - 1: largest count won */

typedef struct {
    uint8_t label;
    uint8_t flags;          /* BS4NN_FLAG_* */
    uint16_t decision_step; /* the step of the first output spike, or tmax - 1 on fallback */
    uint16_t output_steps[BS4NN_N_OUTPUT];        /* BS4NN_NO_SPIKE if not fired by then */
    uint16_t spikes[BS4NN_NUM_LAYERS + 1];        /* input, hidden..., output; to the decision */
} bs4nn_result_t;

/* The kernel: its inference state type bs4nn_state_t and bs4nn_kernel_infer(). */
#include "bs4nn_kernel.h"

extern bs4nn_state_t bs4nn_state;

/* Load the default thresholds (call once at start; RESET calls it too). */
void bs4nn_init(void);

/* Thresholds K per weight layer, each 1..32767; returns 0, or -1 (nothing changed) if one is
 * out of range. */
int bs4nn_set_thresholds(const int16_t k[BS4NN_NUM_LAYERS]);

/* The thresholds in force. */
const int16_t *bs4nn_thresholds(void);

/* Classify one image: pixels[i] is the intensity 0..255 of input i (0 never spikes). */
void bs4nn_infer(const uint8_t pixels[BS4NN_N_INPUT], bs4nn_result_t *result);

/* The ones (+1 synapses among the spikes received) of every output at the end of the last
 * inference: at its decision step, or at t = 255 on fallback; an output's count is 2 * ones -
 * spikes[BS4NN_NUM_LAYERS - 1]. (With more than 32 outputs, the sliced kernel's outputs in lane
 * words before the one that decided may include spikes after the decision step.) */
void bs4nn_output_ones(int32_t ones[BS4NN_N_OUTPUT]);

/* The name of the kernel this build uses ("ref", ...). */
const char *bs4nn_kernel_name(void);

#endif /* BS4NN_INFER_H */
