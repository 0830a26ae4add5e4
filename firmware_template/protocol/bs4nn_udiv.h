/* Unsigned division for the serial protocol's text (decimal numbers, EEMBC scores and
 * timestamps), never inside the timed inference. */
#ifndef BS4NN_UDIV_H
#define BS4NN_UDIV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* n / d, and n % d in *rem; d != 0. */
uint32_t bs4nn_udivmod(uint32_t n, uint32_t d, uint32_t *rem);

#ifdef __cplusplus
}
#endif

#endif /* BS4NN_UDIV_H */
