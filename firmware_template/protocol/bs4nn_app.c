#include "bs4nn_app.h"

#include "bs4nn_board.h"
#include "bs4nn_frame.h"
#include "bs4nn_udiv.h"

/* Largest reply before COBS: INFO with a 255-byte board name and kernel name at most. */
#define REPLY_BODY_MAX (50u + 4u * BS4NN_NUM_LAYERS + 2u * 255u + 2u * BS4NN_N_OUTPUT)
#define REPLY_MAX (BS4NN_FRAME_OVERHEAD + REPLY_BODY_MAX)
/* Incoming message: an encoded frame can be one COBS byte per 254 longer than its content. */
#define RX_MAX BS4NN_COBS_MAX(BS4NN_MAX_FRAME)

uint8_t bs4nn_app_pixels[BS4NN_N_INPUT];

static uint8_t rx[RX_MAX + 1u]; /* + the NUL ending a text command */
static uint32_t rx_len;
static uint8_t rx_overflow;  /* the message outgrew rx: drop it up to its end */
static uint8_t rx_printable; /* every byte so far could belong to a text command */
static uint8_t reply[REPLY_MAX];
static uint8_t reply_cobs[BS4NN_COBS_MAX(REPLY_MAX) + 1u];

uint32_t bs4nn_text_len(const char *s)
{
    const char *end = s;

    while (*end != 0) { /* (an indexed loop here becomes a call to newlib's strlen) */
        end++;
    }
    return (uint32_t)(end - s);
}

void bs4nn_text_write(const char *s)
{
    board_uart_write((const uint8_t *)s, bs4nn_text_len(s));
}

void bs4nn_text_write_u32(uint32_t v, int width)
{
    char buf[11];
    int i = 10;

    buf[i] = 0;
    do {
        uint32_t digit;

        v = bs4nn_udivmod(v, 10u, &digit);
        buf[--i] = (char)('0' + digit);
    } while (v != 0 || 10 - i < width);
    bs4nn_text_write(buf + i);
}

int bs4nn_text_eq(const char *a, const char *b)
{
    while (*a != 0 && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* A byte loop instead of libc's memset (162 bytes of flash); not inside the timed inference. */
static void clear_pixels(void)
{
    uint32_t i;

    for (i = 0; i < BS4NN_N_INPUT; i++) {
        bs4nn_app_pixels[i] = 0;
    }
}

static void end_message(void)
{
    rx_len = 0;
    rx_overflow = 0;
    rx_printable = 1;
}

/* Default thresholds, cleared input and receive state (boot and RESET). */
static void app_reset(void)
{
    bs4nn_init();
    clear_pixels();
    bs4nn_eembc_reset();
    end_message();
}

void bs4nn_app_init(void)
{
    app_reset();
    bs4nn_eembc_boot();
}

void bs4nn_app_run(const uint8_t *pixels, bs4nn_result_t *result, uint32_t *ticks)
{
    uint32_t t0;

    board_rx_hold(1);
    t0 = board_counter();
    bs4nn_infer(pixels, result);
    *ticks = board_counter() - t0;
    board_rx_hold(0);
}

/* ---------------------------------------------------------------- binary replies */

static uint8_t *put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    return put16(put16(p, v & 0xFFFFu), v >> 16);
}

/* A byte copy instead of libc's memcpy, which alone is ~300 bytes of flash, more than the code
 * budget spares (bench/firmware_size.py); no copy here is inside the timed inference. */
static void copy_bytes(uint8_t *to, const uint8_t *from, uint32_t n)
{
    while (n-- != 0u) {
        *to++ = *from++;
    }
}

static uint8_t *put_name(uint8_t *p, const char *s)
{
    uint32_t n = bs4nn_text_len(s);

    n = n > 255u ? 255u : n;
    *p++ = (uint8_t)n;
    copy_bytes(p, (const uint8_t *)s, n);
    return p + n;
}

/* reply[3..end) holds the body; fill the header and CRC, encode and send. */
static void send_reply(uint8_t type, uint16_t seq, const uint8_t *end)
{
    uint32_t len = (uint32_t)(end - reply);
    uint32_t n;

    reply[0] = type;
    put16(reply + 1, seq);
    put16(reply + len, bs4nn_crc16(reply, len));
    n = bs4nn_cobs_encode(reply, len + 2u, reply_cobs);
    reply_cobs[n++] = 0;
    board_uart_write(reply_cobs, n);
}

static void send_error(uint16_t seq, uint8_t code)
{
    reply[3] = code;
    send_reply(BS4NN_MSG_ERROR, seq, reply + 4);
}

/* n u16 values, low byte first (int16 ones too: C lets their unsigned type read them) */
static uint8_t *put16s(uint8_t *p, const uint16_t *v, uint32_t n)
{
    for (; n != 0u; n--) {
        p = put16(p, *v++);
    }
    return p;
}

static uint8_t *put_thresholds(uint8_t *p)
{
    return put16s(p, (const uint16_t *)bs4nn_thresholds(), BS4NN_NUM_LAYERS);
}

static void cmd_info(uint16_t seq)
{
    uint8_t *p = reply + 3;

    *p++ = BS4NN_PROTOCOL_VERSION;
    copy_bytes(p, bs4nn_model_hash, 32);
    p += 32;
    *p++ = BS4NN_NUM_LAYERS;
    p = put16s(p, bs4nn_layer_sizes, BS4NN_NUM_LAYERS + 1);
    p = put_thresholds(p);
    p = put16(p, BS4NN_TMAX);
    p = put32(p, board_clock_hz());
    *p++ = board_counter_kind();
    p = put_name(p, board_name());
    p = put_name(p, bs4nn_kernel_name());
    {
        const uint32_t rx_buffer = board_rx_buffer_bytes();
        p = put16(p, rx_buffer > 0xFFFFu ? 0xFFFFu : rx_buffer);
    }
    send_reply(BS4NN_MSG_INFO | BS4NN_MSG_REPLY, seq, p);
}

static void cmd_infer(uint16_t seq, const uint8_t *pixels)
{
    bs4nn_result_t r;
    uint32_t ticks;
    uint8_t *p = reply + 3;

    bs4nn_eembc_reset(); /* every binary INFER has written the pixels the text mode loads */
    bs4nn_app_run(pixels, &r, &ticks);
    *p++ = r.label;
    *p++ = r.flags;
    p = put16(p, r.decision_step);
    p = put16s(p, r.output_steps, BS4NN_N_OUTPUT);
    p = put16s(p, r.spikes, BS4NN_NUM_LAYERS + 1);
    p = put32(p, ticks);
    send_reply(BS4NN_MSG_INFER | BS4NN_MSG_REPLY, seq, p);
}

/* body: count u16, then count x (index u16, value u8); a repeated index: the last one wins */
static void cmd_infer_sparse(uint16_t seq, const uint8_t *body, uint32_t len)
{
    uint32_t count;
    uint32_t i;

    if (len < 2u) {
        send_error(seq, BS4NN_ERR_BAD_LENGTH);
        return;
    }
    count = (uint32_t)body[0] | ((uint32_t)body[1] << 8);
    if (len != 2u + 3u * count) {
        send_error(seq, BS4NN_ERR_BAD_LENGTH);
        return;
    }
    for (i = 0; i < count; i++) {
        const uint8_t *e = body + 2 + 3 * i;
        if (((uint32_t)e[0] | ((uint32_t)e[1] << 8)) >= BS4NN_N_INPUT) {
            send_error(seq, BS4NN_ERR_BAD_ARG);
            return;
        }
    }
    clear_pixels();
    for (i = 0; i < count; i++) {
        const uint8_t *e = body + 2 + 3 * i;
        bs4nn_app_pixels[(uint32_t)e[0] | ((uint32_t)e[1] << 8)] = e[2];
    }
    cmd_infer(seq, bs4nn_app_pixels);
}

/* body: ceil(N_INPUT / 8) bytes, bit i % 8 of byte i / 8 set for a lit pixel i (padding bits
 * ignored), then the values of the lit pixels in index order */
static void cmd_infer_bitmap(uint16_t seq, const uint8_t *body, uint32_t len)
{
    const uint32_t nb = (BS4NN_N_INPUT + 7u) / 8u;
    const uint8_t *value;
    uint32_t lit = 0;
    uint32_t i;

    if (len < nb) {
        send_error(seq, BS4NN_ERR_BAD_LENGTH);
        return;
    }
    for (i = 0; i < BS4NN_N_INPUT; i++) {
        lit += (body[i >> 3] >> (i & 7u)) & 1u;
    }
    if (len != nb + lit) {
        send_error(seq, BS4NN_ERR_BAD_LENGTH);
        return;
    }
    value = body + nb; /* only now: past the frame's end is no pointer to make */
    for (i = 0; i < BS4NN_N_INPUT; i++) {
        bs4nn_app_pixels[i] = ((body[i >> 3] >> (i & 7u)) & 1u) ? *value++ : 0;
    }
    cmd_infer(seq, bs4nn_app_pixels);
}

static void cmd_set_thresholds(uint16_t seq, const uint8_t *body, uint32_t len)
{
    int16_t k[BS4NN_NUM_LAYERS];
    int l;

    if (len != 2u * BS4NN_NUM_LAYERS) {
        send_error(seq, BS4NN_ERR_BAD_LENGTH);
        return;
    }
    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        k[l] = (int16_t)((uint16_t)body[2 * l] | ((uint16_t)body[2 * l + 1] << 8));
    }
    if (bs4nn_set_thresholds(k) != 0) {
        send_error(seq, BS4NN_ERR_BAD_ARG);
        return;
    }
    send_reply(BS4NN_MSG_SET_THRESHOLDS | BS4NN_MSG_REPLY, seq, put_thresholds(reply + 3));
}

/* One complete COBS message (delimiter removed). */
static void handle_frame(uint8_t *buf, uint32_t enc_len)
{
    const int32_t n = bs4nn_cobs_decode(buf, enc_len);
    uint32_t len;
    uint16_t seq;
    const uint8_t *body;

    if (n < 0 || (uint32_t)n < BS4NN_FRAME_OVERHEAD) {
        send_error(BS4NN_SEQ_UNKNOWN, BS4NN_ERR_BAD_FRAME);
        return;
    }
    len = (uint32_t)n;
    if (len > BS4NN_MAX_FRAME) {
        send_error(BS4NN_SEQ_UNKNOWN, BS4NN_ERR_OVERSIZE);
        return;
    }
    if (bs4nn_crc16(buf, len - 2u) != ((uint16_t)buf[len - 2] | ((uint16_t)buf[len - 1] << 8))) {
        send_error(BS4NN_SEQ_UNKNOWN, BS4NN_ERR_BAD_CRC);
        return;
    }
    seq = (uint16_t)(buf[1] | (buf[2] << 8));
    body = buf + 3;
    len -= BS4NN_FRAME_OVERHEAD; /* body length */
    switch (buf[0]) {
    case BS4NN_MSG_INFO:
        if (len != 0) {
            send_error(seq, BS4NN_ERR_BAD_LENGTH);
        } else {
            cmd_info(seq);
        }
        break;
    case BS4NN_MSG_INFER:
        if (len != BS4NN_N_INPUT) {
            send_error(seq, BS4NN_ERR_BAD_LENGTH);
        } else {
            copy_bytes(bs4nn_app_pixels, body, BS4NN_N_INPUT);
            cmd_infer(seq, bs4nn_app_pixels);
        }
        break;
    case BS4NN_MSG_INFER_SPARSE:
        cmd_infer_sparse(seq, body, len);
        break;
    case BS4NN_MSG_INFER_BITMAP:
        cmd_infer_bitmap(seq, body, len);
        break;
    case BS4NN_MSG_SET_THRESHOLDS:
        cmd_set_thresholds(seq, body, len);
        break;
    case BS4NN_MSG_RESET:
        if (len != 0) {
            send_error(seq, BS4NN_ERR_BAD_LENGTH);
        } else {
            app_reset();
            send_reply(BS4NN_MSG_RESET | BS4NN_MSG_REPLY, seq, reply + 3);
        }
        break;
    default:
        send_error(seq, BS4NN_ERR_UNKNOWN_CMD);
        break;
    }
}

/* ---------------------------------------------------------------- byte routing */

static int text_byte(uint8_t c)
{
    return (c >= 0x20u && c <= 0x7Eu) || c == '\r' || c == '\n' || c == '\t';
}

/* A '%' ends a text command only if every byte before it is text and one is a letter: a
 * binary frame always has a control byte (its type) right after the COBS code byte. */
static int text_command_ready(void)
{
    uint32_t i;

    if (!rx_printable) {
        return 0;
    }
    for (i = 0; i < rx_len; i++) {
        if ((rx[i] | 0x20u) >= 'a' && (rx[i] | 0x20u) <= 'z') {
            return 1;
        }
    }
    return rx_overflow; /* an over-long text line: answer it with an error */
}

void bs4nn_app_feed(uint8_t c)
{
    if (c == 0) {
        if (rx_overflow) {
            send_error(BS4NN_SEQ_UNKNOWN, BS4NN_ERR_OVERSIZE);
        } else if (rx_len != 0) {
            handle_frame(rx, rx_len);
        } /* an empty message is the host's resynchronisation */
        end_message();
        return;
    }
    if (c == '%' && text_command_ready()) {
        if (rx_overflow) {
            bs4nn_eembc_command(0);
        } else {
            rx[rx_len] = 0;
            bs4nn_eembc_command((char *)rx);
        }
        end_message();
        return;
    }
    rx_printable = (uint8_t)(rx_printable && text_byte(c));
    if (rx_len >= RX_MAX) {
        rx_overflow = 1;
        return;
    }
    rx[rx_len++] = c;
}

void bs4nn_app_poll(void)
{
    int c = board_uart_read();

    if (c < 0) {
        board_idle();
        return;
    }
    do {
        bs4nn_app_feed((uint8_t)c);
        c = board_uart_read();
    } while (c >= 0);
}
