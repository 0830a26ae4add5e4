/* Inference kernels: the inner loop that adds one spike's fan-out to the next layer's counts.
 *
 * A kernel is chosen at build time with -DBS4NN_KERNEL=<name> (default: ref). Every kernel
 * gives exactly the same counts as the plain reference kernel (tests hold them bit-exact);
 * only speed differs. To add one: write bs4nn_kernel_<name>.c guarded by
 * `#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_<name>` and give it an id below.
 */
#ifndef BS4NN_KERNEL_H
#define BS4NN_KERNEL_H

#include <stdint.h>

#include "bs4nn_model.h"

#define BS4NN_KERNEL_ID_ref 1
#define BS4NN_KERNEL_ID_unrolled 2

#ifndef BS4NN_KERNEL
#define BS4NN_KERNEL ref
#endif

#define BS4NN_CAT_(a, b) a##b
#define BS4NN_CAT(a, b) BS4NN_CAT_(a, b)
#define BS4NN_STR_(x) #x
#define BS4NN_STR(x) BS4NN_STR_(x)
#define BS4NN_KERNEL_ID BS4NN_CAT(BS4NN_KERNEL_ID_, BS4NN_KERNEL)
#define BS4NN_KERNEL_NAME BS4NN_STR(BS4NN_KERNEL)

#if !BS4NN_KERNEL_ID
#error "unknown BS4NN_KERNEL: use ref or unrolled"
#endif

/* Counters: the count of a neuron lies in [-fan_in, fan_in]; int16 unless the input is wider
 * than int16 can count (hidden layers are at most 4096 wide). */
#if BS4NN_N_INPUT > 32767
typedef int32_t bs4nn_count_t;
#else
typedef int16_t bs4nn_count_t;
#endif

/* Add the +1/-1 synapses of input `row` (weights bit k = row * n + j, LSB first) to the
 * n counts of the next layer. */
void bs4nn_kernel_fanout(const uint32_t *weights, uint32_t row, uint32_t n,
                         bs4nn_count_t *counts);

#endif /* BS4NN_KERNEL_H */
