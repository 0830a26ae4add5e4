/* board_counter() and board_micros() from SysTick, for boards without a better free-running
 * timer. SysTick counts down from 2^24 - 1 at the board's clock; its interrupt counts the wraps,
 * giving a 64-bit tick count. The counter is ticks * BS4NN_COUNTER_NUM / BS4NN_COUNTER_DEN in the
 * units of board_counter_kind() (bs4nn_board_info.h says which, from boards.json). */
#include "bs4nn_board.h"
#include "bs4nn_udiv.h"
#include "cortex_m.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE 0x4u /* the processor clock */
#define SYST_TOP 0x00FFFFFFu
#define ICSR_PENDSTSET (1u << 26)

static volatile uint32_t wraps;

void systick_handler(void)
{
    wraps++;
}

void systick_clock_init(void)
{
    SYST_RVR = SYST_TOP;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

/* The tick count as wraps * 2^24 + ticks into the current wrap. */
static void ticks(uint32_t *wrapped, uint32_t *into)
{
    uint32_t w;
    uint32_t v;

    irq_disable_all();
    w = wraps;
    v = SYST_CVR;
    /* wrapped after the interrupts were masked: the handler has not counted it yet */
    if ((SCB_ICSR & ICSR_PENDSTSET) != 0u && v > SYST_TOP / 2u) {
        w++;
    }
    irq_enable_all();
    *wrapped = w;
    *into = SYST_TOP - v;
}

/* No 64-bit division or multiplication anywhere (libgcc's would add ~700 bytes of flash, and a
 * 64-bit product is a libgcc call on Cortex-M0): with ticks = q * DEN + r (DEN a power of two),
 * ticks * NUM / DEN = q * NUM + r * NUM / DEN, of which the counter keeps the low 32 bits; the
 * microseconds split the division by the ticks per microsecond. */
#if (BS4NN_COUNTER_DEN & (BS4NN_COUNTER_DEN - 1u)) != 0
#error "BS4NN_COUNTER_DEN must be a power of two"
#endif
#if BS4NN_CLOCK_HZ % 1000000u != 0
#error "the SysTick clock must be a whole number of MHz"
#endif
#define TICKS_PER_US (BS4NN_CLOCK_HZ / 1000000u)
#define WRAP (SYST_TOP + 1u) /* ticks per wrap */

uint32_t board_counter(void)
{
    uint32_t w;
    uint32_t c;
    uint64_t t;

    ticks(&w, &c);
    t = ((uint64_t)w << 24) + c;
    return (uint32_t)(t / BS4NN_COUNTER_DEN) * BS4NN_COUNTER_NUM +
           ((uint32_t)t & (BS4NN_COUNTER_DEN - 1u)) * BS4NN_COUNTER_NUM / BS4NN_COUNTER_DEN;
}

/* floor((w * WRAP + c) / D) mod 2^32, D = TICKS_PER_US, with w = a * D + b: w * WRAP / D =
 * w * (WRAP / D) + a * (WRAP % D) + b * (WRAP % D) / D, the last part added to c first. */
uint32_t board_micros(void)
{
    uint32_t w;
    uint32_t c;
    uint32_t a;
    uint32_t b;
    uint32_t rest;

    ticks(&w, &c);
    a = bs4nn_udivmod(w, TICKS_PER_US, &b);
    return w * (WRAP / TICKS_PER_US) + a * (WRAP % TICKS_PER_US) +
           bs4nn_udivmod(b * (WRAP % TICKS_PER_US) + c, TICKS_PER_US, &rest);
}

uint8_t board_counter_kind(void)
{
    return BS4NN_COUNTER_KIND;
}
