/* Board port for the STM32F405 of QEMU's netduinoplus2 machine (the stand-in for ST's F4
 * Nucleos): USART1 (IRQ 37) for the serial port; TIM2 as the counter and TIM5 as the
 * microsecond clock. QEMU clocks its STM32 timers at 1 GHz of virtual time, so with
 * -icount shift=0 (1 instruction = 1 ns) TIM2 counts instructions exactly.
 * Start-up, the receive ring and main() are shared (boards/cortex-m/). */
#include <stdint.h>

#include "bs4nn_board.h"
#include "cortex_m.h"

#define TIMER_HZ 1000000000u /* QEMU's stm32f2xx timer clock */
#define BAUD 115200u
#define APB2_HZ 84000000u /* USART1's clock on a real F405 at 168 MHz */

/* USART1 */
#define USART1_BASE 0x40011000u
#define USART_SR (*(volatile uint32_t *)(USART1_BASE + 0x00u))
#define USART_DR (*(volatile uint32_t *)(USART1_BASE + 0x04u))
#define USART_BRR (*(volatile uint32_t *)(USART1_BASE + 0x08u))
#define USART_CR1 (*(volatile uint32_t *)(USART1_BASE + 0x0Cu))
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE (1u << 13)

/* general-purpose 32-bit timers TIM2 and TIM5 */
#define TIM2_BASE 0x40000000u
#define TIM5_BASE 0x40000C00u
#define TIM_CR1(b) (*(volatile uint32_t *)((b) + 0x00u))
#define TIM_EGR(b) (*(volatile uint32_t *)((b) + 0x14u))
#define TIM_CNT(b) (*(volatile uint32_t *)((b) + 0x24u))
#define TIM_PSC(b) (*(volatile uint32_t *)((b) + 0x28u))
#define TIM_ARR(b) (*(volatile uint32_t *)((b) + 0x2Cu))
#define TIM_CR1_CEN 0x1u
#define TIM_EGR_UG 0x1u

static void usart1_handler(void)
{
    serial_rx_drain(); /* reading DR clears RXNE */
}

BS4NN_IRQ_VECTORS(BS4NN_UART_RX_IRQ + 1u) = {[BS4NN_UART_RX_IRQ] = usart1_handler};

static void timer_start(uint32_t base, uint32_t prescaler)
{
    TIM_PSC(base) = prescaler;
    TIM_ARR(base) = 0xFFFFFFFFu;
    TIM_EGR(base) = TIM_EGR_UG; /* load the prescaler */
    TIM_CR1(base) = TIM_CR1_CEN;
}

void board_init(void)
{
    USART_BRR = APB2_HZ / BAUD;
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    timer_start(TIM2_BASE, 0u);
    timer_start(TIM5_BASE, TIMER_HZ / 1000000u - 1u);
    serial_rx_init();
}

int board_uart_rx_ready(void)
{
    return (USART_SR & USART_SR_RXNE) != 0u;
}

uint8_t board_uart_rx_byte(void)
{
    return (uint8_t)USART_DR;
}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    uint32_t i;

    for (i = 0; i < len; i++) {
        while ((USART_SR & USART_SR_TXE) == 0u) {
        }
        USART_DR = data[i];
    }
}

uint32_t board_counter(void)
{
    return TIM_CNT(TIM2_BASE);
}

uint32_t board_micros(void)
{
    return TIM_CNT(TIM5_BASE);
}

uint8_t board_counter_kind(void)
{
    return BS4NN_COUNTER_INSTRUCTIONS;
}
