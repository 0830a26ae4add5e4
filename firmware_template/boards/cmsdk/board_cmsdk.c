/* Board port for Arm's CMSDK APB UART, shared by the CMSDK machines: QEMU's mps2-an386
 * (Cortex-M4, UART0 at 0x40004000, RX IRQ 0) and mps3-an547 (Cortex-M55, secure UART0 at
 * 0x59303000, RX IRQ 33). The UART's address and RX interrupt come from the board's boards.json
 * entry (CMSDK_UART_BASE, BS4NN_UART_RX_IRQ in the generated bs4nn_board_info.h); SysTick is the
 * counter (boards/systick/). Start-up, the receive ring and main() are shared
 * (boards/cortex-m/). */
#include <stdint.h>

#include "bs4nn_board.h"
#include "cortex_m.h"

#define BAUD 115200u
#define UART_DATA (*(volatile uint32_t *)(CMSDK_UART_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(CMSDK_UART_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(CMSDK_UART_BASE + 0x08u))
#define UART_INTSTATUS (*(volatile uint32_t *)(CMSDK_UART_BASE + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t *)(CMSDK_UART_BASE + 0x10u))
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u
#define UART_CTRL_RX_INTEN 0x8u
#define UART_INT_RX 0x2u

static void uart_rx_handler(void)
{
    /* Clear first, then drain: a byte arriving after the last check raises the interrupt
     * again (clearing after the loop could swallow it and stall reception for good). */
    UART_INTSTATUS = UART_INT_RX;
    serial_rx_drain();
}

BS4NN_IRQ_VECTORS(BS4NN_UART_RX_IRQ + 1u) = {[BS4NN_UART_RX_IRQ] = uart_rx_handler};

void board_init(void)
{
    UART_BAUDDIV = BS4NN_CLOCK_HZ / BAUD;
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
    systick_clock_init();
    serial_rx_init();
}

int board_uart_rx_ready(void)
{
    return (UART_STATE & UART_STATE_RXFULL) != 0u;
}

uint8_t board_uart_rx_byte(void)
{
    return (uint8_t)UART_DATA;
}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    uint32_t i;

    for (i = 0; i < len; i++) {
        while (UART_STATE & UART_STATE_TXFULL) {
        }
        UART_DATA = data[i];
    }
}
