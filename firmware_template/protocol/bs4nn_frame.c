#include "bs4nn_frame.h"

uint16_t bs4nn_crc16(const uint8_t *data, uint32_t len)
{
    uint16_t crc = 0xFFFFu;
    uint32_t i;
    int b;

    /* bitwise: 30 bytes of code instead of a 512-byte table; fast enough for 1 KB frames */
    for (i = 0; i < len; i++) {
        uint32_t c = crc ^ ((uint32_t)data[i] << 8);
        for (b = 0; b < 8; b++) {
            c = (c & 0x8000u) ? ((c << 1) ^ 0x1021u) : (c << 1);
        }
        crc = (uint16_t)c;
    }
    return crc;
}

int32_t bs4nn_cobs_decode(uint8_t *buf, uint32_t len)
{
    uint32_t in = 0;
    uint32_t out = 0;

    while (in < len) {
        const uint32_t code = buf[in++];
        const uint32_t end = in + code - 1u;
        if (code == 0 || end > len) {
            return -1;
        }
        while (in < end) {
            if (buf[in] == 0) {
                return -1;
            }
            buf[out++] = buf[in++];
        }
        if (code != 0xFFu && in < len) {
            buf[out++] = 0;
        }
    }
    return (int32_t)out;
}

uint32_t bs4nn_cobs_encode(const uint8_t *src, uint32_t len, uint8_t *dst)
{
    uint32_t code_pos = 0;
    uint32_t out = 1;
    uint8_t code = 1;
    uint32_t i;

    for (i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_pos] = code;
            code_pos = out++;
            code = 1;
            continue;
        }
        dst[out++] = src[i];
        code++;
        if (code == 0xFFu && i + 1u != len) {
            dst[code_pos] = code;
            code_pos = out++;
            code = 1;
        }
    }
    dst[code_pos] = code;
    return out;
}
