/* The board port: what each board folder implements (firmware_template/boards/<board>/).
 * Everything else (inference, framing, commands, the EEMBC text mode) is the framework's. */
#ifndef BS4NN_BOARD_H
#define BS4NN_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BS4NN_COUNTER_CYCLES 0u       /* CPU cycles (DWT CYCCNT) */
#define BS4NN_COUNTER_INSTRUCTIONS 1u /* instruction-count proxy (QEMU -icount) */
#define BS4NN_COUNTER_MICROSECONDS 2u /* micros() */

/* Clocks, the serial port (115200 8N1 where it has a baud rate) and the counter. */
void board_init(void);
/* The next received byte (0..255), or -1 if none has arrived. Never blocks. */
int board_uart_read(void);
/* Send len bytes; returns when they are queued or sent. */
void board_uart_write(const uint8_t *data, uint32_t len);
/* Free-running 32-bit counter in the units of board_counter_kind(); wraps modulo 2^32. */
uint32_t board_counter(void);
/* Microseconds since boot, wrapping modulo 2^32 (EEMBC timestamps). */
uint32_t board_micros(void);
/* Called when no byte is waiting: sleep until the next interrupt, or return at once. */
void board_idle(void);
/* Around each timed inference (hold 1, then 0). A board whose link is flow-controlled
 * (board_rx_buffer_bytes() 0) stops taking bytes into its ring meanwhile: they wait in the
 * UART, so the counter times the inference alone, not the receive interrupt's work for the
 * next request. A board that would drop bytes keeps receiving. */
void board_rx_hold(int hold);
/* Fixed facts reported by INFO. */
/* Received bytes the board holds without losing any while it computes (e.g. the Arduino core's
 * 64-byte Serial buffer), 0 if its link is flow-controlled and never drops: the host keeps no
 * more unanswered request bytes in flight than this. */
uint32_t board_rx_buffer_bytes(void);
uint32_t board_clock_hz(void);
uint8_t board_counter_kind(void);
const char *board_name(void);

#ifdef __cplusplus
}
#endif

#endif /* BS4NN_BOARD_H */
