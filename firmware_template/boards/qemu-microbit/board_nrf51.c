/* Board port for the nRF51822 (Cortex-M0, 16 KB RAM) of QEMU's microbit machine: the nRF51
 * UART (IRQ 2) for the serial port, SysTick for the counter (boards/systick/). Start-up, the
 * receive ring and main() are shared (boards/cortex-m/). */
#include <stdint.h>

#include "bs4nn_board.h"
#include "cortex_m.h"

#define UART_BASE 0x40002000u
#define UART_REG(off) (*(volatile uint32_t *)(UART_BASE + (off)))
#define UART_TASKS_STARTRX UART_REG(0x000u)
#define UART_TASKS_STARTTX UART_REG(0x008u)
#define UART_EVENTS_RXDRDY UART_REG(0x108u)
#define UART_EVENTS_TXDRDY UART_REG(0x11Cu)
#define UART_INTENSET UART_REG(0x304u)
#define UART_ENABLE UART_REG(0x500u)
#define UART_PSELTXD UART_REG(0x50Cu)
#define UART_PSELRXD UART_REG(0x514u)
#define UART_RXD UART_REG(0x518u)
#define UART_TXD UART_REG(0x51Cu)
#define UART_BAUDRATE UART_REG(0x524u)
#define UART_INT_RXDRDY (1u << 2)
#define UART_ENABLE_ON 4u
#define UART_BAUD_115200 0x01D7E000u
#define MICROBIT_TX_PIN 24u /* the micro:bit's USB serial lines */
#define MICROBIT_RX_PIN 25u

static void uart_handler(void)
{
    serial_rx_drain();
}

BS4NN_IRQ_VECTORS(BS4NN_UART_RX_IRQ + 1u) = {[BS4NN_UART_RX_IRQ] = uart_handler};

void board_init(void)
{
    UART_PSELTXD = MICROBIT_TX_PIN;
    UART_PSELRXD = MICROBIT_RX_PIN;
    UART_BAUDRATE = UART_BAUD_115200;
    UART_ENABLE = UART_ENABLE_ON;
    UART_INTENSET = UART_INT_RXDRDY;
    UART_TASKS_STARTTX = 1u;
    UART_TASKS_STARTRX = 1u;
    systick_clock_init();
    serial_rx_init();
}

int board_uart_rx_ready(void)
{
    return UART_EVENTS_RXDRDY != 0u;
}

uint8_t board_uart_rx_byte(void)
{
    /* clear the event first: reading RXD raises it again if another byte is waiting */
    UART_EVENTS_RXDRDY = 0u;
    return (uint8_t)UART_RXD;
}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    uint32_t i;

    for (i = 0; i < len; i++) {
        UART_EVENTS_TXDRDY = 0u;
        UART_TXD = data[i];
        while (UART_EVENTS_TXDRDY == 0u) {
        }
    }
}
