/* The receive path every bare-metal board shares. The UART interrupt only moves bytes into the
 * ring; when the ring is full it masks its own interrupt in the NVIC and leaves the byte in the
 * UART (the emulated UARTs then hold further input) until the main loop has drained the ring. */
#include "bs4nn_board.h"
#include "bs4nn_ring.h"
#include "cortex_m.h"

static bs4nn_ring_t rx_ring;
static volatile uint8_t rx_paused;

/* The UART's receive interrupt unmasked (on) or masked in the NVIC. */
static void rx_interrupt(int on)
{
    if (on) {
        NVIC_ISER(BS4NN_UART_RX_IRQ) = NVIC_BIT(BS4NN_UART_RX_IRQ);
    } else {
        NVIC_ICER(BS4NN_UART_RX_IRQ) = NVIC_BIT(BS4NN_UART_RX_IRQ);
    }
}

void serial_rx_init(void)
{
    rx_interrupt(1);
}

void serial_rx_drain(void)
{
    while (board_uart_rx_ready()) {
        if (bs4nn_ring_count(&rx_ring) >= BS4NN_RING_SIZE) {
            rx_interrupt(0);
            rx_paused = 1;
            return;
        }
        (void)bs4nn_ring_put(&rx_ring, board_uart_rx_byte());
    }
}

int board_uart_read(void)
{
    int c = bs4nn_ring_get(&rx_ring);

    if (c < 0 && rx_paused) {
        irq_disable_all();
        rx_paused = 0;
        serial_rx_drain(); /* may pause again at once if the UART holds more than the ring */
        if (!rx_paused) {
            rx_interrupt(1);
        }
        irq_enable_all();
        c = bs4nn_ring_get(&rx_ring);
    }
    return c;
}

void board_idle(void)
{
    /* With PRIMASK set WFI still wakes on a pending interrupt, so no byte is missed between
     * the check and the sleep. Sleeping keeps the emulator from spinning a host core. */
    irq_disable_all();
    if (bs4nn_ring_count(&rx_ring) == 0 && !rx_paused) {
        __asm volatile("wfi");
    }
    irq_enable_all();
}

void board_rx_hold(int hold)
{
#if BS4NN_RX_BUFFER_BYTES == 0 /* the emulated UARTs hold further input */
    if (hold || !rx_paused) { /* a full ring keeps it masked until the main loop drains it */
        rx_interrupt(!hold);
    }
#else
    (void)hold; /* the ring must take what arrives */
#endif
}

uint32_t board_rx_buffer_bytes(void)
{
    return BS4NN_RX_BUFFER_BYTES;
}
