/* What the bare-metal boards (firmware_template/boards/cortex-m/) share: the vector type, the
 * NVIC and SCB registers every M-profile core has, and the hooks between a board file and the
 * shared start-up (startup.c), receive path (serial_rx.c) and SysTick clock (systick_clock.c). */
#ifndef BS4NN_CORTEX_M_H
#define BS4NN_CORTEX_M_H

#include <stdint.h>

#include "bs4nn_board_info.h" /* generated from the board's entry in boards.json */

typedef void (*bs4nn_vector_t)(void);

/* A board's interrupt vectors (IRQ 0 upwards), placed right after the 16 core vectors:
 *   BS4NN_IRQ_VECTORS(UART_RX_IRQ + 1) = { [UART_RX_IRQ] = uart_handler }; */
#define BS4NN_IRQ_VECTORS(n) \
    __attribute__((section(".vectors.irq"), used)) static const bs4nn_vector_t irq_vectors[n]

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ICER0 (*(volatile uint32_t *)0xE000E180u)
#define NVIC_ISER(irq) (*(volatile uint32_t *)(0xE000E100u + 4u * ((irq) / 32u)))
#define NVIC_ICER(irq) (*(volatile uint32_t *)(0xE000E180u + 4u * ((irq) / 32u)))
#define NVIC_BIT(irq) (1u << ((irq) % 32u))
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

static inline void irq_disable_all(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_enable_all(void) { __asm volatile("cpsie i" ::: "memory"); }

/* serial_rx.c: the receive ring shared by every board. The board's UART interrupt handler
 * acknowledges its event and calls serial_rx_drain(); the two hooks read the UART. */
int board_uart_rx_ready(void);     /* a received byte is waiting in the UART */
uint8_t board_uart_rx_byte(void);  /* take it */
void serial_rx_drain(void);
void serial_rx_init(void);         /* enables the UART's receive IRQ (BS4NN_UART_RX_IRQ) */

/* boards/systick/systick_clock.c (for the boards whose boards.json entry lists "systick"):
 * board_counter() and board_micros() from SysTick at the board's clock. */
void systick_clock_init(void);

#endif /* BS4NN_CORTEX_M_H */
