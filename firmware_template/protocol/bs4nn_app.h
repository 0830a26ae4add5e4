/* The firmware application: bytes from the serial port -> messages -> replies.
 *
 * Two protocols share the port and are told apart per message (firmware_template/README.md):
 * a binary frame (COBS, ends with 0x00; docs/design.md section 4) or an MLPerf Tiny / EEMBC
 * text command (printable ASCII ending with '%'). A board calls bs4nn_app_init() once after
 * board_init() (it prints the EEMBC boot banner), then bs4nn_app_poll() forever.
 */
#ifndef BS4NN_APP_H
#define BS4NN_APP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the core and the generated model are C: C linkage for a C++ board file */
#endif

#include "bs4nn_infer.h"

#define BS4NN_PROTOCOL_VERSION 1u

/* request and reply types */
#define BS4NN_MSG_INFO 0x01u
#define BS4NN_MSG_INFER 0x02u
#define BS4NN_MSG_INFER_SPARSE 0x03u
#define BS4NN_MSG_SET_THRESHOLDS 0x04u
#define BS4NN_MSG_RESET 0x05u
#define BS4NN_MSG_INFER_BITMAP 0x06u /* optional in the contract; this firmware has it */
#define BS4NN_MSG_REPLY 0x80u /* reply type = request type | 0x80 */
#define BS4NN_MSG_ERROR 0xEEu
#define BS4NN_SEQ_UNKNOWN 0xFFFFu

/* error codes (body of an 0xEE reply) */
#define BS4NN_ERR_BAD_CRC 1u
#define BS4NN_ERR_BAD_LENGTH 2u
#define BS4NN_ERR_UNKNOWN_CMD 3u
#define BS4NN_ERR_OVERSIZE 4u
#define BS4NN_ERR_BAD_ARG 5u
#define BS4NN_ERR_BAD_FRAME 6u

void bs4nn_app_init(void);
/* Handle every byte received so far; sleeps (board_idle) when there is none. */
void bs4nn_app_poll(void);
/* Handle one received byte (bs4nn_app_poll calls this; tests may call it directly). */
void bs4nn_app_feed(uint8_t byte);

/* Shared with the EEMBC text mode (bs4nn_eembc.c). */
extern uint8_t bs4nn_app_pixels[BS4NN_N_INPUT]; /* the image of the last INFER / db load */
void bs4nn_app_run(const uint8_t *pixels, bs4nn_result_t *result, uint32_t *ticks);
void bs4nn_eembc_boot(void);          /* the boot banner, ending with m-ready */
void bs4nn_eembc_command(char *line); /* one text command, without the '%' */
/* RESET, or a binary INFER (it writes the pixels): no db image and no text-mode result */
void bs4nn_eembc_reset(void);
/* strlen / string equality; small on purpose (newlib's speed-optimized strcmp and strlen
 * take about 1 KB of flash, and the budget for everything but the weights is 8 KB) */
uint32_t bs4nn_text_len(const char *s);
int bs4nn_text_eq(const char *a, const char *b);
/* text to the serial port; v in decimal with at least `width` digits (zero-padded). Calls
 * across files, not inlined at every use: the code stays small. */
void bs4nn_text_write(const char *s);
void bs4nn_text_write_u32(uint32_t v, int width);

#ifdef __cplusplus
}
#endif

#endif /* BS4NN_APP_H */
