/* Board port for real boards through PlatformIO, framework = arduino (platformio.ini at the top
 * of the export lists the environments).
 *
 * Serial is the USB serial port (115200 8N1 where the link has a baud rate). The counter is
 * DWT CYCCNT on cores that have one (Cortex-M3/M4/M7: counter_kind 0, CPU cycles) and micros()
 * otherwise (Cortex-M0+ such as the RP2040: counter_kind 2). The Arduino core buffers received
 * bytes in its own interrupt, so the framework's parsing in loop() never runs in an interrupt.
 */
#include <Arduino.h>

#include "bs4nn_app.h"
#include "bs4nn_board.h"

#ifndef BS4NN_BOARD_NAME
#define BS4NN_BOARD_NAME "arduino"
#endif
#ifndef BS4NN_BAUD
#define BS4NN_BAUD 115200
#endif

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
#define HAVE_DWT 1
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u) /* Cortex-M7 needs the unlock */
#else
#define HAVE_DWT 0
#endif

extern "C" {

void board_init(void)
{
    Serial.begin(BS4NN_BAUD);
#if HAVE_DWT
    /* CYCCNT is not reset: only differences are used, and Teensy 4's micros() reads it */
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;
    DWT_CTRL |= 1u; /* CYCCNTENA */
#endif
}

int board_uart_read(void)
{
    return Serial.available() > 0 ? Serial.read() : -1;
}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    Serial.write(data, len);
}

uint32_t board_counter(void)
{
#if HAVE_DWT
    return DWT_CYCCNT;
#else
    return (uint32_t)micros();
#endif
}

uint32_t board_micros(void)
{
    return (uint32_t)micros();
}

void board_idle(void)
{
    /* USB serial needs the core's background work: return to loop() at once */
}

void board_rx_hold(int hold)
{
    (void)hold; /* the core's Serial interrupt must take what arrives */
}

uint32_t board_rx_buffer_bytes(void)
{
    /* the core's Serial receive buffer drops bytes that arrive while loop() computes */
#ifdef SERIAL_RX_BUFFER_SIZE
    return SERIAL_RX_BUFFER_SIZE;
#else
    return 64u; /* the Arduino cores' default */
#endif
}

uint32_t board_clock_hz(void)
{
#ifdef F_CPU
    return (uint32_t)F_CPU;
#elif defined(BS4NN_CLOCK_HZ)
    return BS4NN_CLOCK_HZ; /* the board's clock (platformio.ini): ArduinoCore-mbed has no F_CPU */
#else
    return 0;
#endif
}

uint8_t board_counter_kind(void)
{
    return HAVE_DWT ? BS4NN_COUNTER_CYCLES : BS4NN_COUNTER_MICROSECONDS;
}

const char *board_name(void)
{
    return BS4NN_BOARD_NAME;
}

} /* extern "C" */

void setup()
{
    board_init();
    bs4nn_app_init();
}

void loop()
{
    bs4nn_app_poll();
}
