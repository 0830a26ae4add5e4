/* MLPerf Tiny / EEMBC performance-mode text protocol (the commands of the public runner:
 * name, profile, timestamp, db load N, db <hex>, infer N W, results, help). Every command ends
 * with "m-ready"; errors are "e-[...]". See firmware_template/README.md. */
#include <string.h>

#include "bs4nn_app.h"
#include "bs4nn_board.h"

#define FW_VERSION "ULPMark for tinyML Firmware V0.0.1"

static uint32_t db_size;  /* bytes announced by "db load N" */
static uint32_t db_pos;   /* bytes received since */
static bs4nn_result_t last;
static uint8_t have_result;

static void say(const char *s)
{
    board_uart_write((const uint8_t *)s, bs4nn_text_len(s));
}

static void say_u32(uint32_t v)
{
    char buf[11];
    int i = 10;

    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    say(buf + i);
}

static void say_line(const char *a, const char *b, const char *c)
{
    say(a);
    say(b);
    say(c);
    say("\r\n");
}

/* Decimal argument; returns -1 if absent or not a plain number. */
static int32_t parse_u31(const char *s)
{
    int32_t v = 0;

    if (s == 0 || *s == 0) {
        return -1;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 99999999) {
            return -1;
        }
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Split on spaces in place: up to 4 words. */
static int split(char *line, char *words[4])
{
    int n = 0;

    while (*line && n < 4) {
        while (*line == ' ' || *line == '\r' || *line == '\n' || *line == '\t') {
            *line++ = 0;
        }
        if (*line == 0) {
            break;
        }
        words[n++] = line;
        while (*line && *line != ' ' && *line != '\r' && *line != '\n' && *line != '\t') {
            line++;
        }
    }
    return n;
}

static void timestamp(void)
{
    say("m-lap-us-");
    say_u32(board_micros());
    say("\r\n");
}

static void results(void)
{
    int j;

    if (!have_result) {
        say("e-[No inference run yet]\r\n");
        return;
    }
    /* the class scores the runner expects: one-hot on the label (no floats on the board) */
    say("m-results-[");
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        say(j == last.label ? "1.000" : "0.000");
        if (j + 1 < BS4NN_N_OUTPUT) {
            say(",");
        }
    }
    say("]\r\n");
}

static void db(char *sub, char *arg)
{
    uint32_t i;
    uint32_t n;

    if (sub == 0) {
        say("e-[Command 'db' requires a subcommand]\r\n");
    } else if (bs4nn_text_eq(sub, "load")) {
        int32_t v = parse_u31(arg);
        if (v <= 0 || (uint32_t)v > BS4NN_N_INPUT) {
            say("e-[Command 'db load' needs 1..");
            say_u32(BS4NN_N_INPUT);
            say(" bytes]\r\n");
            return;
        }
        db_size = (uint32_t)v;
        db_pos = 0;
        memset(bs4nn_app_pixels, 0, sizeof bs4nn_app_pixels);
        say("m-[Expecting ");
        say_u32(db_size);
        say(" bytes]\r\n");
    } else {
        n = bs4nn_text_len(sub);
        if (n & 1u) {
            say("e-[Insufficent number of hex digits]\r\n");
            return;
        }
        for (i = 0; i < n; i += 2) {
            const int hi = hex_value(sub[i]);
            const int lo = hex_value(sub[i + 1]);
            if (hi < 0 || lo < 0) {
                say("e-[Invalid hex digit]\r\n");
                return;
            }
            if (db_pos < db_size) {
                bs4nn_app_pixels[db_pos++] = (uint8_t)(hi * 16 + lo);
                if (db_pos == db_size) {
                    say("m-load-done\r\n");
                }
            }
        }
    }
}

static void infer(const char *n_arg, const char *w_arg)
{
    int32_t n = n_arg ? parse_u31(n_arg) : 1;
    int32_t w = w_arg ? parse_u31(w_arg) : 10;
    uint32_t ticks;

    if (n <= 0) {
        say("e-[Inference iterations must be >0]\r\n");
        return;
    }
    if (w < 0) {
        say("e-[Inference warmup must be >=0]\r\n");
        return;
    }
    say("m-warmup-start-");
    say_u32((uint32_t)w);
    say("\r\n");
    while (w-- > 0) {
        bs4nn_app_run(bs4nn_app_pixels, &last, &ticks);
    }
    say("m-warmup-done\r\nm-infer-start-");
    say_u32((uint32_t)n);
    say("\r\n");
    timestamp();
    while (n-- > 0) {
        bs4nn_app_run(bs4nn_app_pixels, &last, &ticks);
    }
    timestamp();
    say("m-infer-done\r\n");
    have_result = 1;
    results();
}

void bs4nn_eembc_command(char *line)
{
    char *w[4] = {0, 0, 0, 0};

    if (line == 0) {
        say("e-[Command too long]\r\n");
    } else if (split(line, w) == 0) {
        say("e-[Empty command]\r\n");
    } else if (bs4nn_text_eq(w[0], "name")) {
        say_line("m-name-dut-[bs4nn-", board_name(), "]");
    } else if (bs4nn_text_eq(w[0], "profile")) {
        say_line("m-profile-[", FW_VERSION, "]");
        say_line("m-model-[bs4nn-", BS4NN_MODEL_HASH_HEX, "]");
    } else if (bs4nn_text_eq(w[0], "timestamp")) {
        timestamp();
    } else if (bs4nn_text_eq(w[0], "db")) {
        db(w[1], w[2]);
    } else if (bs4nn_text_eq(w[0], "infer")) {
        infer(w[1], w[2]);
    } else if (bs4nn_text_eq(w[0], "results")) {
        results();
    } else if (bs4nn_text_eq(w[0], "help")) {
        say(FW_VERSION "\r\nname, profile, timestamp, db load N, db HH.., infer N [W=10], "
                       "results, help\r\n");
    } else {
        say_line("e-[Unknown command: ", w[0], "]");
    }
    say("m-ready\r\n");
}
