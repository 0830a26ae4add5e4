/* Single-producer single-consumer byte ring: the UART RX interrupt puts, the main loop gets.
 * Each index is written by one side only, so no lock is needed on a single core. */
#ifndef BS4NN_RING_H
#define BS4NN_RING_H

#include <stdint.h>

#define BS4NN_RING_SIZE 512u /* power of two */

typedef struct {
    volatile uint16_t head; /* written by the producer (ISR) */
    volatile uint16_t tail; /* written by the consumer (main loop) */
    volatile uint8_t data[BS4NN_RING_SIZE];
} bs4nn_ring_t;

/* Returns 0, or -1 if the ring is full (the byte is not stored). */
int bs4nn_ring_put(bs4nn_ring_t *r, uint8_t byte);
/* Returns the oldest byte, or -1 if empty. */
int bs4nn_ring_get(bs4nn_ring_t *r);
uint32_t bs4nn_ring_count(const bs4nn_ring_t *r);

#endif /* BS4NN_RING_H */
