/* Board port for the RP2040 (Cortex-M0+) as emulated by the npm package rp2040js (harness.js
 * beside this file): PL011 UART0 (IRQ 20) for the serial port, SysTick on clk_sys (125 MHz,
 * rp2040js's cycle model) for the counter (boards/systick/). Start-up, the receive ring and
 * main() are shared (boards/cortex-m/).
 *
 * The harness starts the firmware at its vector table in flash (0x10000000), as the boot ROM
 * would after the second-stage boot loader; clk_sys and clk_peri run at rp2040js's 125 MHz. */
#include <stdint.h>

#include "bs4nn_board.h"
#include "cortex_m.h"

#define BAUD 115200u
#define CLK_PERI_HZ BS4NN_CLOCK_HZ

/* RESETS: take UART0 and the GPIO bank out of reset */
#define RESETS_BASE 0x4000C000u
#define RESETS_RESET_CLR (*(volatile uint32_t *)(RESETS_BASE + 0x3000u)) /* atomic clear alias */
#define RESETS_RESET_DONE (*(volatile uint32_t *)(RESETS_BASE + 0x8u))
#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_UART0 (1u << 22)

/* GPIO 0 and 1: UART0 TX and RX (function 2) */
#define IO_BANK0_GPIO_CTRL(n) (*(volatile uint32_t *)(0x40014004u + 8u * (n)))
#define GPIO_FUNC_UART 2u

/* PL011 UART0 */
#define UART0_BASE 0x40034000u
#define UART_DR (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_FR (*(volatile uint32_t *)(UART0_BASE + 0x18u))
#define UART_IBRD (*(volatile uint32_t *)(UART0_BASE + 0x24u))
#define UART_FBRD (*(volatile uint32_t *)(UART0_BASE + 0x28u))
#define UART_LCR_H (*(volatile uint32_t *)(UART0_BASE + 0x2Cu))
#define UART_CR (*(volatile uint32_t *)(UART0_BASE + 0x30u))
#define UART_IMSC (*(volatile uint32_t *)(UART0_BASE + 0x38u))
#define UART_FR_RXFE (1u << 4)
#define UART_FR_TXFF (1u << 5)
#define UART_LCR_H_FEN (1u << 4)
#define UART_LCR_H_WLEN8 (3u << 5)
#define UART_CR_UARTEN (1u << 0)
#define UART_CR_TXE (1u << 8)
#define UART_CR_RXE (1u << 9)
#define UART_IMSC_RXIM (1u << 4)
#define UART_IMSC_RTIM (1u << 6) /* receive timeout: the last bytes below the FIFO level */

static void uart0_handler(void)
{
    serial_rx_drain(); /* reading DR until the FIFO is empty clears both interrupts */
}

BS4NN_IRQ_VECTORS(BS4NN_UART_RX_IRQ + 1u) = {[BS4NN_UART_RX_IRQ] = uart0_handler};

void board_init(void)
{
    const uint32_t div64 = (8u * CLK_PERI_HZ / BAUD + 1u) / 2u; /* 64 * clk / (16 * baud) */
    const uint32_t used = RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0;

    RESETS_RESET_CLR = used;
    while ((RESETS_RESET_DONE & used) != used) {
    }
    IO_BANK0_GPIO_CTRL(0u) = GPIO_FUNC_UART;
    IO_BANK0_GPIO_CTRL(1u) = GPIO_FUNC_UART;
    UART_IBRD = div64 >> 6;
    UART_FBRD = div64 & 63u;
    UART_LCR_H = UART_LCR_H_WLEN8 | UART_LCR_H_FEN;
    UART_CR = UART_CR_UARTEN | UART_CR_TXE | UART_CR_RXE;
    UART_IMSC = UART_IMSC_RXIM | UART_IMSC_RTIM;
    systick_clock_init();
    serial_rx_init();
}

int board_uart_rx_ready(void)
{
    return (UART_FR & UART_FR_RXFE) == 0u;
}

uint8_t board_uart_rx_byte(void)
{
    return (uint8_t)UART_DR;
}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    uint32_t i;

    for (i = 0; i < len; i++) {
        while (UART_FR & UART_FR_TXFF) {
        }
        UART_DR = data[i];
    }
}
