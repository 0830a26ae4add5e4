/* Start-up shared by the bare-metal boards: the 16 core vectors, reset (copy .data, zero .bss),
 * a fault handler that resets the board, and main(). A board file adds its interrupt vectors
 * with BS4NN_IRQ_VECTORS (the linker script puts them right after these). */
#include <stdint.h>

#include "bs4nn_app.h"
#include "bs4nn_board.h"
#include "cortex_m.h"

int main(void);
void reset_handler(void);
void fault_handler(void);
void systick_handler(void) __attribute__((weak, alias("fault_handler")));

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
void fault_handler(void)
{
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    for (;;) {
    }
}

__attribute__((section(".vectors"), used)) static const bs4nn_vector_t core_vectors[16] = {
    (bs4nn_vector_t)(uintptr_t)&_estack,
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
    systick_handler,
};

int main(void)
{
    board_init();
    bs4nn_app_init();
    for (;;) {
        bs4nn_app_poll();
    }
}

const char *board_name(void)
{
    return BS4NN_BOARD_NAME;
}

uint32_t board_clock_hz(void)
{
    return BS4NN_CLOCK_HZ;
}
