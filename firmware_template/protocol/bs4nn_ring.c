#include "bs4nn_ring.h"

int bs4nn_ring_put(bs4nn_ring_t *r, uint8_t byte)
{
    const uint16_t head = r->head;

    if ((uint16_t)(head - r->tail) >= BS4NN_RING_SIZE) {
        return -1;
    }
    r->data[head & (BS4NN_RING_SIZE - 1u)] = byte;
    r->head = (uint16_t)(head + 1u); /* publish after the data is written */
    return 0;
}

int bs4nn_ring_get(bs4nn_ring_t *r)
{
    const uint16_t tail = r->tail;
    uint8_t byte;

    if (tail == r->head) {
        return -1;
    }
    byte = r->data[tail & (BS4NN_RING_SIZE - 1u)];
    r->tail = (uint16_t)(tail + 1u);
    return byte;
}

uint32_t bs4nn_ring_count(const bs4nn_ring_t *r)
{
    return (uint16_t)(r->head - r->tail);
}
