/* Binary framing (docs/design.md section 4): CRC-16/CCITT-FALSE and COBS. */
#ifndef BS4NN_FRAME_H
#define BS4NN_FRAME_H

#include <stdint.h>

#define BS4NN_MAX_FRAME 1024u /* largest decoded frame: type + seq + body + crc */
#define BS4NN_FRAME_OVERHEAD 5u /* type u8, seq u16, crc u16 */
/* COBS adds one byte per 254 and the first code byte */
#define BS4NN_COBS_MAX(n) ((n) + (n) / 254u + 1u)

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0. */
uint16_t bs4nn_crc16(const uint8_t *data, uint32_t len);

/* Decode in place (the output never overtakes the input). len excludes the 0x00 delimiter.
 * Returns the decoded length, or -1 if the bytes are not valid COBS. */
int32_t bs4nn_cobs_decode(uint8_t *buf, uint32_t len);

/* Encode len bytes of src into dst (room for BS4NN_COBS_MAX(len)), no delimiter added.
 * Returns the encoded length. Canonical form: a final full 254-byte block is not followed by an
 * empty one (same as host/protocol.py). */
uint32_t bs4nn_cobs_encode(const uint8_t *src, uint32_t len, uint8_t *dst);

#endif /* BS4NN_FRAME_H */
