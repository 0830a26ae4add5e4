/* board_counter() and board_micros() from SysTick, for boards without a better free-running
 * timer. SysTick counts down from 2^24 - 1 at the board's clock; its interrupt counts the wraps,
 * giving a 64-bit tick count. The counter is ticks * BS4NN_COUNTER_NUM / BS4NN_COUNTER_DEN in the
 * units of board_counter_kind() (bs4nn_target.h says which, from targets.json). */
#include "bs4nn_board.h"
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

static uint64_t ticks(void)
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
    return ((uint64_t)w << 24) + (SYST_TOP - v);
}

uint32_t board_counter(void)
{
    return (uint32_t)(ticks() * BS4NN_COUNTER_NUM / BS4NN_COUNTER_DEN);
}

uint32_t board_micros(void)
{
    return (uint32_t)(ticks() / (BS4NN_TARGET_CLOCK_HZ / 1000000u));
}

uint8_t board_counter_kind(void)
{
    return BS4NN_COUNTER_KIND;
}
