/* MLPerf Tiny / EEMBC text mode, as the DUT API of the MLPerf Tiny benchmark (api/
 * internally_implemented.cpp) and its host runner expect it: the boot banner, name, profile,
 * timestamp, db load N, db <hex>, db print, infer N W, results, help. Every command ends with
 * "m-ready"; errors are "e-[...]". See firmware_template/README.md for the contract. */
#include <stdarg.h>

#include "bs4nn_app.h"
#include "bs4nn_board.h"
#include "bs4nn_udiv.h"

#define FW_VERSION "ULPMark for tinyML Firmware V0.0.1"
#define MODEL_ID "bs4nn01"        /* stable: the runner's test scripts are keyed by it */
#define MAX_RUNS 1000000          /* largest N and W of "infer N W" */
#define KEEPALIVE_US 1000000u     /* a progress line per second of board time in "infer" */
#define US_PER_S 1000000u
#define BYTES_PER_PRINT_LINE 8u   /* "db print": m-buffer-xx-xx-... as the reference prints */
#define STR_(x) #x
#define STR(x) STR_(x)

/* one object, so that code using several of these loads one address */
static struct {
    uint32_t db_size;    /* bytes announced by "db load N" */
    uint32_t db_pos;     /* bytes received since */
    uint8_t have_result; /* "infer" ran since boot, RESET and binary INFERs */
    uint16_t scores[BS4NN_N_OUTPUT]; /* of the last "infer", in thousandths */
} state;
static bs4nn_result_t last; /* of the last inference of "infer" */
/* m-lap-us: board_micros() extended to seconds + microseconds, so it never wraps */
static uint32_t clock_last;
static uint32_t clock_s;
static uint32_t clock_us;

/* One reply line: fmt with each "%s" replaced by a string and each "%u" by a uint32_t in
 * decimal, from the arguments in order (fmt has no other '%'), then "\r\n". A line is one
 * call with one string: a call takes ~10 bytes of flash, and a call per piece took more. */
static void say(const char *fmt, ...)
{
    va_list args;
    const char *end = fmt;

    va_start(args, fmt);
    for (;;) {
        while (*end != 0 && *end != '%') {
            end++;
        }
        board_uart_write((const uint8_t *)fmt, (uint32_t)(end - fmt));
        if (*end == 0) {
            break;
        }
        if (end[1] == 's') {
            bs4nn_text_write(va_arg(args, const char *));
        } else {
            bs4nn_text_write_u32(va_arg(args, uint32_t), 1);
        }
        end += 2;
        fmt = end;
    }
    va_end(args);
    bs4nn_text_write("\r\n");
}

/* A decimal argument: `absent` if there is none, -1 if it is not a plain number; large values
 * saturate at 999999999 (above every limit here, so "too large" is reported as such). */
static int32_t parse_count(const char *s, int32_t absent)
{
    int32_t v = 0;

    if (s == 0) {
        return absent;
    }
    if (*s == 0) {
        return -1;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        v = v > 99999999 ? 999999999 : v * 10 + (*s - '0');
    }
    return v;
}

/* The position of word in names (NUL-separated, ending with an empty name), or the number of
 * names if it is none of them. */
static int find(const char *word, const char *names)
{
    int i = 0;

    for (; *names != 0 && !bs4nn_text_eq(word, names); i++) {
        names += bs4nn_text_len(names) + 1u;
    }
    return i;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Split on spaces, tabs and line ends in place: the first 3 words (the others are ignored),
 * the missing ones 0 (set one by one: an initializer becomes a call to libc's memset, 162
 * bytes of flash). A text command has no other bytes below '!' (bs4nn_app.c). */
static int split(char *line, char *words[3])
{
    char *c;
    int n = 0;

    words[0] = 0;
    words[1] = 0;
    words[2] = 0;
    for (c = line; *c != 0; c++) {
        if ((unsigned char)*c <= ' ') {
            *c = 0;
        } else if ((c == line || c[-1] == 0) && n < 3) {
            words[n++] = c;
        }
    }
    return n;
}

/* Microseconds since boot without wrapping: board_micros() wraps every 2^32 us (71.6 min), so
 * the time since the last timestamp is added up; exact while timestamps come less than 71.6
 * minutes apart (both ends of an "infer" window always do). */
static void timestamp(void)
{
    const uint32_t now = board_micros();
    const uint32_t delta = now - clock_last;
    uint32_t us;

    clock_last = now;
    clock_s += bs4nn_udivmod(delta, US_PER_S, &us);
    clock_us += us;
    if (clock_us >= US_PER_S) {
        clock_us -= US_PER_S;
        clock_s++;
    }
    bs4nn_text_write("m-lap-us-");
    if (clock_s != 0) {
        bs4nn_text_write_u32(clock_s, 1);
        bs4nn_text_write_u32(clock_us, 6);
    } else {
        bs4nn_text_write_u32(clock_us, 1);
    }
    bs4nn_text_write("\r\n");
}

/* Class scores from the output counts at the decision (count = 2 * ones - spikes received,
 * the ones from the core right after the inference): (count - min) / (max - min + 1) in
 * thousandths, and exactly 1.000 for the label, so the runner's argmax is the label. The
 * spikes cancel out: (count - min) / (max - min + 1) = 2 (ones - min) / (2 (max - min) + 1)
 * with min and max of the ones. */
static void score(const bs4nn_result_t *r)
{
    int32_t ones[BS4NN_N_OUTPUT];
    int32_t lo;
    int32_t hi;
    int j;

    bs4nn_output_ones(ones);
    lo = ones[0];
    hi = ones[0];
    for (j = 1; j < BS4NN_N_OUTPUT; j++) {
        lo = ones[j] < lo ? ones[j] : lo;
        hi = ones[j] > hi ? ones[j] : hi;
    }
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        const uint32_t num = 2000u * (uint32_t)(ones[j] - lo); /* ones[j] >= lo */
        const uint32_t den = 2u * (uint32_t)(hi - lo) + 1u;
        uint32_t rem;

        state.scores[j] = (uint16_t)(j == r->label ? 1000u : bs4nn_udivmod(num, den, &rem));
    }
}

static void results(void)
{
    int j;

    if (!state.have_result) {
        say("e-[No inference run yet]");
        return;
    }
    bs4nn_text_write("m-results-[");
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        uint32_t thousandths;

        bs4nn_text_write_u32(bs4nn_udivmod(state.scores[j], 1000u, &thousandths), 1);
        bs4nn_text_write(".");
        bs4nn_text_write_u32(thousandths, 3);
        bs4nn_text_write(j + 1 < BS4NN_N_OUTPUT ? "," : "]\r\n");
    }
}

static void db_load(const char *arg)
{
    const int32_t v = parse_count(arg, -1);

    if (arg == 0) {
        say("e-[Command 'db load' requires the # of bytes]");
    } else if (v <= 0) {
        say("e-[Command 'db load' must be >0 bytes]");
    } else if ((uint32_t)v > BS4NN_N_INPUT) {
        say("e-[Supplied buffer size %s exceeds maximum of %u]", arg, (uint32_t)BS4NN_N_INPUT);
    } else {
        state.db_size = (uint32_t)v;
        state.db_pos = 0;
        say("m-[Expecting %u bytes]", state.db_size);
    }
}

/* Each of n bytes as two lowercase hex digits. */
static void write_hex(const uint8_t *bytes, uint32_t n)
{
    static const char digits[] = "0123456789abcdef";
    char pair[2];

    for (; n != 0; n--, bytes++) {
        pair[0] = digits[*bytes >> 4];
        pair[1] = digits[*bytes & 15u];
        board_uart_write((const uint8_t *)pair, 2);
    }
}

static void db_print(void)
{
    uint32_t i;

    for (i = 0; i < state.db_size; i++) {
        bs4nn_text_write(i % BYTES_PER_PRINT_LINE == 0 ? "m-buffer-" : "-");
        write_hex(&bs4nn_app_pixels[i], 1);
        if ((i + 1u) % BYTES_PER_PRINT_LINE == 0 || i + 1u == state.db_size) {
            bs4nn_text_write("\r\n");
        }
    }
}

/* "db HH..": bytes until the announced size; the digits after that are ignored (as in the
 * reference), and so are bytes that no "db load" asked for. */
static void db_data(char *digits)
{
    const uint32_t n = bs4nn_text_len(digits);
    uint32_t byte = 0;
    uint32_t i;

    if (n & 1u) {
        say("e-[Insufficent number of hex digits]");
        return;
    }
    for (i = 0; i < n; i++) {
        const int v = hex_value(digits[i]);
        if (v < 0) {
            digits[(i | 1u) + 1u] = 0; /* the pair's end, in the line (it is ours) */
            say("e-[Invalid hex digit '%s']", digits + (i & ~1u));
            return;
        }
        byte = byte * 16u + (uint32_t)v; /* its last two digits are the byte */
        if ((i & 1u) && state.db_pos < state.db_size) {
            bs4nn_app_pixels[state.db_pos++] = (uint8_t)byte;
            if (state.db_pos == state.db_size) {
                say("m-load-done");
                return;
            }
        }
    }
}

static void db(char *sub, const char *arg)
{
    if (sub == 0) {
        say("e-[Command 'db' requires a subcommand]");
    } else {
        switch (find(sub, "load\0print\0")) {
        case 0:
            db_load(arg);
            break;
        case 1:
            db_print();
            break;
        default:
            db_data(sub);
            break;
        }
    }
}

/* A window of "infer" ("warmup" or "infer"): n inferences on the loaded image between its start
 * and done lines (and between two timestamps if timed), with a progress line per KEEPALIVE_US
 * of board time so that a host waiting for output (the runner gives up after 30 s of silence)
 * keeps waiting. */
static void run(const char *what, uint32_t n, int timed)
{
    uint32_t ticks;
    uint32_t since;
    uint32_t done;

    say("m-%s-start-%u", what, n);
    if (timed) {
        timestamp();
    }
    since = board_micros();
    for (done = 1; done <= n; done++) {
        bs4nn_app_run(bs4nn_app_pixels, &last, &ticks);
        if (done < n && board_micros() - since >= KEEPALIVE_US) {
            say("m-%s-progress-%u", what, done);
            since = board_micros();
        }
    }
    if (timed) {
        timestamp();
    }
    say("m-%s-done", what);
}

static void refuse(const char *what, const char *bound)
{
    say("e-[Inference %s must be %s]", what, bound);
}

static void infer(const char *n_arg, const char *w_arg)
{
    const int32_t n = parse_count(n_arg, 1);
    const int32_t w = parse_count(w_arg, 10);

    if (n <= 0) {
        refuse("iterations", ">0");
    } else if (n > MAX_RUNS) {
        refuse("iterations", "<=" STR(MAX_RUNS));
    } else if (w < 0) {
        refuse("warmup", ">=0");
    } else if (w > MAX_RUNS) {
        refuse("warmup", "<=" STR(MAX_RUNS));
    } else if (state.db_size != BS4NN_N_INPUT || state.db_pos != BS4NN_N_INPUT) {
        say("e-[Input db has %u elements, expected %u]", state.db_pos, (uint32_t)BS4NN_N_INPUT);
    } else {
        run("warmup", (uint32_t)w, 0);
        run("infer", (uint32_t)n, 1);
        score(&last); /* the core's state still holds this inference's counts */
        state.have_result = 1;
        results();
    }
}

void bs4nn_eembc_reset(void)
{
    state.db_size = 0;
    state.db_pos = 0;
    state.have_result = 0;
}

void bs4nn_eembc_boot(void)
{
    say("m-timestamp-mode-performance");
    timestamp();
    say("m-init-done\r\nm-ready");
}

/* The commands, in the order of the switch below. */
enum { NAME, PROFILE, TIMESTAMP, DB, INFER, RESULTS, HELP };
static const char commands[] = "name\0profile\0timestamp\0db\0infer\0results\0help\0";

void bs4nn_eembc_command(char *line)
{
    char *w[3];

    if (line == 0) {
        say("e-[Command too long]");
    } else if (split(line, w) == 0) {
        say("e-[Empty command]");
    } else {
        switch (find(w[0], commands)) {
        case NAME:
            say("m-name-dut-[bs4nn-%s]", board_name());
            break;
        case PROFILE:
            say("m-profile-[%s]\r\nm-model-[" MODEL_ID "]", FW_VERSION);
            bs4nn_text_write("m-model-hash-["); /* the 32 bytes INFO sends: no 64-digit copy */
            write_hex(bs4nn_model_hash, sizeof bs4nn_model_hash);
            say("]");
            break;
        case TIMESTAMP:
            timestamp();
            break;
        case DB:
            db(w[1], w[2]);
            break;
        case INFER:
            infer(w[1], w[2]);
            break;
        case RESULTS:
            results();
            break;
        case HELP:
            /* FW_VERSION an argument, as in profile: no second copy in flash */
            say("%s\r\nname, profile, timestamp, db load N, db HH.., db print, infer N [W=10], "
                "results, help",
                FW_VERSION);
            break;
        default:
            say("e-[Unknown command: %s]", w[0]);
            break;
        }
    }
    say("m-ready");
}
