/* Board port for the Arm MPS2 AN386 (Cortex-M4) as emulated by qemu-system-arm -M mps2-an386.
 *
 * Bare metal: vector table, reset (copy .data, zero .bss), CMSDK APB UART0 with an RX
 * interrupt feeding a ring buffer, two CMSDK APB timers (25 MHz) for the counter and the
 * microsecond clock, main(). QEMU has no DWT cycle counter: the counter is an
 * instruction-count proxy, valid when QEMU runs with -icount shift=BS4NN_ICOUNT_SHIFT
 * (firmware_template/README.md explains the conversion).
 */
#include <stdint.h>

#include "bs4nn_app.h"
#include "bs4nn_board.h"
#include "bs4nn_ring.h"

#define SYSCLK_HZ 25000000u /* QEMU's mps2 SYSCLK: the UART's and timers' clock */
#define BAUD 115200u

/* -icount shift=N: every instruction advances the virtual clock by 2^N ns */
#ifndef BS4NN_ICOUNT_SHIFT
#define BS4NN_ICOUNT_SHIFT 0
#endif
#define NS_PER_TICK (1000000000u / SYSCLK_HZ) /* 40 */

/* CMSDK APB UART0 (IRQ 0 = RX, 1 = TX) */
#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_INTSTATUS (*(volatile uint32_t *)(UART0_BASE + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u
#define UART_CTRL_RX_INTEN 0x8u
#define UART_INT_RX 0x2u
#define UART0_RX_IRQ 0u

/* CMSDK APB timers: timer0 free-running counter, timer1 one-second tick (IRQ 9) */
#define TIMER_CTRL(b) (*(volatile uint32_t *)((b) + 0x00u))
#define TIMER_VALUE(b) (*(volatile uint32_t *)((b) + 0x04u))
#define TIMER_RELOAD(b) (*(volatile uint32_t *)((b) + 0x08u))
#define TIMER_INTSTATUS(b) (*(volatile uint32_t *)((b) + 0x0Cu))
#define TIMER0_BASE 0x40000000u
#define TIMER1_BASE 0x40001000u
#define TIMER_CTRL_EN 0x1u
#define TIMER_CTRL_IRQEN 0x8u
#define TIMER1_IRQ 9u

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

static bs4nn_ring_t rx_ring;
static volatile uint8_t rx_paused; /* ring was full: RX interrupt off until the loop drains */
static volatile uint32_t seconds;

/* ---------------------------------------------------------------- interrupts */

void uart0_rx_handler(void)
{
    /* Clear first, then drain: a byte arriving after the last check raises the interrupt
     * again (clearing after the loop could swallow it and stall reception for good). */
    UART_INTSTATUS = UART_INT_RX;
    while (UART_STATE & UART_STATE_RXFULL) {
        if (bs4nn_ring_count(&rx_ring) >= BS4NN_RING_SIZE) {
            /* Leave the byte in the UART: QEMU holds further input until it is read. */
            UART_CTRL &= ~UART_CTRL_RX_INTEN;
            rx_paused = 1;
            break;
        }
        (void)bs4nn_ring_put(&rx_ring, (uint8_t)UART_DATA);
    }
}

void timer1_handler(void)
{
    TIMER_INTSTATUS(TIMER1_BASE) = 1u;
    seconds++;
}

/* ---------------------------------------------------------------- board port */

void board_init(void)
{
    UART_BAUDDIV = SYSCLK_HZ / BAUD;
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
    TIMER_RELOAD(TIMER0_BASE) = 0xFFFFFFFFu;
    TIMER_VALUE(TIMER0_BASE) = 0xFFFFFFFFu;
    TIMER_CTRL(TIMER0_BASE) = TIMER_CTRL_EN;
    TIMER_RELOAD(TIMER1_BASE) = SYSCLK_HZ - 1u;
    TIMER_VALUE(TIMER1_BASE) = SYSCLK_HZ - 1u;
    TIMER_CTRL(TIMER1_BASE) = TIMER_CTRL_EN | TIMER_CTRL_IRQEN;
    NVIC_ISER0 = (1u << UART0_RX_IRQ) | (1u << TIMER1_IRQ);
}

int board_uart_read(void)
{
    int c = bs4nn_ring_get(&rx_ring);

    if (c < 0 && rx_paused) {
        /* Interrupt on first, then drain: a byte arriving meanwhile raises the interrupt. */
        __asm volatile("cpsid i" ::: "memory");
        rx_paused = 0;
        UART_CTRL |= UART_CTRL_RX_INTEN;
        while ((UART_STATE & UART_STATE_RXFULL) && bs4nn_ring_count(&rx_ring) < BS4NN_RING_SIZE) {
            (void)bs4nn_ring_put(&rx_ring, (uint8_t)UART_DATA);
        }
        __asm volatile("cpsie i" ::: "memory");
        c = bs4nn_ring_get(&rx_ring);
    }
    return c;
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

uint32_t board_counter(void)
{
    /* timer ticks of 40 ns of virtual time = 40 >> shift instructions; the product wraps
     * modulo 2^32 like the timer, so differences stay right */
    return (0xFFFFFFFFu - TIMER_VALUE(TIMER0_BASE)) * (NS_PER_TICK >> BS4NN_ICOUNT_SHIFT);
}

uint32_t board_micros(void)
{
    uint32_t s;
    uint32_t v;

    do {
        s = seconds;
        v = TIMER_VALUE(TIMER1_BASE);
    } while (s != seconds);
    return s * 1000000u + (SYSCLK_HZ - 1u - v) / (SYSCLK_HZ / 1000000u);
}

void board_idle(void)
{
    /* With PRIMASK set WFI still wakes on a pending interrupt, so no byte is missed between
     * the check and the sleep. Sleeping keeps QEMU from spinning a host core. */
    __asm volatile("cpsid i" ::: "memory");
    if (bs4nn_ring_count(&rx_ring) == 0 && !rx_paused) {
        __asm volatile("wfi");
    }
    __asm volatile("cpsie i" ::: "memory");
}

uint32_t board_rx_buffer_bytes(void)
{
    return 0; /* a full ring pauses the UART, and QEMU holds further input: nothing is lost */
}

uint32_t board_clock_hz(void)
{
    return SYSCLK_HZ;
}

uint8_t board_counter_kind(void)
{
    return BS4NN_COUNTER_INSTRUCTIONS;
}

const char *board_name(void)
{
    return "qemu-mps2-an386";
}

/* ---------------------------------------------------------------- startup */

int main(void);
void reset_handler(void);

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

void reset_handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst;

    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    (void)main();
    for (;;) {
    }
}

/* Faults and unexpected interrupts: reset the board rather than hang. */
static void fault_handler(void)
{
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    for (;;) {
    }
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) static const vector_t vectors[16 + 32] = {
    (vector_t)(uintptr_t)&_estack,
    reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMon */
    0,
    fault_handler, /* PendSV */
    fault_handler, /* SysTick */
    [16 + UART0_RX_IRQ] = uart0_rx_handler,
    [16 + TIMER1_IRQ] = timer1_handler,
};

int main(void)
{
    board_init();
    bs4nn_app_init();
    for (;;) {
        bs4nn_app_poll();
    }
}
