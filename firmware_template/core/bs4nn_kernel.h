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
#define BS4NN_KERNEL_ID_packed 2

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
#error "unknown BS4NN_KERNEL: use ref or packed"
#endif

/* Counters hold, per neuron, the number of +1 synapses among the spikes received so far
 * ("ones"); the signed count of docs/design.md is 2 * ones - spikes received, the same for every
 * neuron of a layer, so the core compares ones against a per-step bound. A fired neuron's ones
 * drop by BS4NN_FIRED so it never looks ready again; this needs fan-in < BS4NN_FIRED. Hidden
 * layers are at most 4096 wide, so only a very wide input needs 32-bit counters. */
#if BS4NN_N_INPUT < 16384
typedef int16_t bs4nn_count_t;
#define BS4NN_FIRED 16384
#else
typedef int32_t bs4nn_count_t;
#define BS4NN_FIRED 1073741824L
#endif

/* Add the synapses of input `row` (weights bit k = row * n + j, LSB first; 1 = +1) to the
 * n counters of the next layer: counter j grows by 1 where the bit is 1. `ones` is 4-byte
 * aligned. */
void bs4nn_kernel_fanout(const uint32_t *weights, uint32_t row, uint32_t n,
                         bs4nn_count_t *ones);

#endif /* BS4NN_KERNEL_H */
