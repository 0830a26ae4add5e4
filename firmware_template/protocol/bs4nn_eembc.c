/* MLPerf Tiny / EEMBC text mode, as the DUT API of the MLPerf Tiny benchmark (api/
 * internally_implemented.cpp) and its host runner expect it: the boot banner, name, profile,
 * timestamp, db load N, db <hex>, db print, infer N W, results, help. Every command ends with
 * "m-ready"; errors are "e-[...]". See firmware_template/README.md for the contract. */
#include "bs4nn_app.h"
#include "bs4nn_board.h"

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

static void say_line(const char *a, const char *b, const char *c)
{
    bs4nn_text_write(a);
    bs4nn_text_write(b);
    bs4nn_text_write(c);
    bs4nn_text_write("\r\n");
}

/* A decimal argument: -1 if absent or not a plain number; large values saturate at
 * 999999999 (above every limit here, so "too large" is reported as such). */
static int32_t parse_count(const char *s)
{
    int32_t v = 0;

    if (s == 0 || *s == 0) {
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

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Split on spaces in place: up to 4 words, the missing ones 0 (set one by one: an
 * initializer becomes a call to libc's memset, 162 bytes of flash). */
static int split(char *line, char *words[4])
{
    int n = 0;

    words[0] = 0;
    words[1] = 0;
    words[2] = 0;
    words[3] = 0;
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

/* Microseconds since boot without wrapping: board_micros() wraps every 2^32 us (71.6 min), so
 * the time since the last timestamp is added up; exact while timestamps come less than 71.6
 * minutes apart (both ends of an "infer" window always do). */
static void timestamp(void)
{
    const uint32_t now = board_micros();
    const uint32_t delta = now - clock_last;

    clock_last = now;
    clock_s += delta / US_PER_S;
    clock_us += delta % US_PER_S;
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
 * thousandths, and exactly 1.000 for the label, so the runner's argmax is the label. */
static void score(const bs4nn_result_t *r)
{
    int32_t count[BS4NN_N_OUTPUT];
    int32_t lo = 0;
    int32_t hi = 0;
    int j;

    bs4nn_output_ones(count);
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        count[j] = 2 * count[j] - r->spikes[BS4NN_NUM_LAYERS - 1];
        lo = (j == 0 || count[j] < lo) ? count[j] : lo;
        hi = (j == 0 || count[j] > hi) ? count[j] : hi;
    }
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        state.scores[j] = (uint16_t)(j == r->label ? 1000 : 1000 * (count[j] - lo) / (hi - lo + 1));
    }
}

static void results(void)
{
    int j;

    if (!state.have_result) {
        bs4nn_text_write("e-[No inference run yet]\r\n");
        return;
    }
    bs4nn_text_write("m-results-[");
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        const uint32_t m = state.scores[j];
        const char text[7] = {(char)('0' + m / 1000u), '.', (char)('0' + m / 100u % 10u),
                              (char)('0' + m / 10u % 10u), (char)('0' + m % 10u),
                              j + 1 < BS4NN_N_OUTPUT ? ',' : ']', 0};
        bs4nn_text_write(text);
    }
    bs4nn_text_write("\r\n");
}

static void db_load(const char *arg)
{
    const int32_t v = parse_count(arg);

    if (arg == 0) {
        bs4nn_text_write("e-[Command 'db load' requires the # of bytes]\r\n");
    } else if (v <= 0) {
        bs4nn_text_write("e-[Command 'db load' must be >0 bytes]\r\n");
    } else if ((uint32_t)v > BS4NN_N_INPUT) {
        bs4nn_text_write("e-[Supplied buffer size ");
        bs4nn_text_write(arg);
        bs4nn_text_write(" exceeds maximum of ");
        bs4nn_text_write_u32(BS4NN_N_INPUT, 1);
        bs4nn_text_write("]\r\n");
    } else {
        state.db_size = (uint32_t)v;
        state.db_pos = 0;
        bs4nn_text_write("m-[Expecting ");
        bs4nn_text_write_u32(state.db_size, 1);
        bs4nn_text_write(" bytes]\r\n");
    }
}

static void db_print(void)
{
    static const char digits[] = "0123456789abcdef";
    char hex[3] = {0, 0, 0};
    uint32_t i;

    for (i = 0; i < state.db_size; i++) {
        hex[0] = digits[bs4nn_app_pixels[i] >> 4];
        hex[1] = digits[bs4nn_app_pixels[i] & 15u];
        bs4nn_text_write(i % BYTES_PER_PRINT_LINE == 0 ? "m-buffer-" : "-");
        bs4nn_text_write(hex);
        if ((i + 1u) % BYTES_PER_PRINT_LINE == 0 || i + 1u == state.db_size) {
            bs4nn_text_write("\r\n");
        }
    }
}

/* "db HH..": bytes until the announced size; the digits after that are ignored (as in the
 * reference), and so are bytes that no "db load" asked for. */
static void db_data(const char *digits)
{
    const uint32_t n = bs4nn_text_len(digits);
    uint32_t i;

    if (n & 1u) {
        bs4nn_text_write("e-[Insufficent number of hex digits]\r\n");
        return;
    }
    for (i = 0; i < n; i += 2) {
        const int hi = hex_value(digits[i]);
        const int lo = hex_value(digits[i + 1]);
        if (hi < 0 || lo < 0) {
            const char pair[3] = {digits[i], digits[i + 1], 0};
            say_line("e-[Invalid hex digit '", pair, "']");
            return;
        }
        if (state.db_pos < state.db_size) {
            bs4nn_app_pixels[state.db_pos++] = (uint8_t)(hi * 16 + lo);
            if (state.db_pos == state.db_size) {
                bs4nn_text_write("m-load-done\r\n");
                return;
            }
        }
    }
}

static void db(const char *sub, const char *arg)
{
    if (sub == 0) {
        bs4nn_text_write("e-[Command 'db' requires a subcommand]\r\n");
    } else if (bs4nn_text_eq(sub, "load")) {
        db_load(arg);
    } else if (bs4nn_text_eq(sub, "print")) {
        db_print();
    } else {
        db_data(sub);
    }
}

/* n inferences on the loaded image, with a progress line per KEEPALIVE_US of board time so
 * that a host waiting for output (the runner gives up after 30 s of silence) keeps waiting. */
static void run(uint32_t n, const char *what)
{
    uint32_t ticks;
    uint32_t since = board_micros();
    uint32_t done;

    for (done = 1; done <= n; done++) {
        bs4nn_app_run(bs4nn_app_pixels, &last, &ticks);
        if (done < n && board_micros() - since >= KEEPALIVE_US) {
            bs4nn_text_write(what);
            bs4nn_text_write_u32(done, 1);
            bs4nn_text_write("\r\n");
            since = board_micros();
        }
    }
}

static void refuse(const char *what, const char *bound)
{
    bs4nn_text_write("e-[Inference ");
    bs4nn_text_write(what);
    say_line(" must be ", bound, "]");
}

static void infer(const char *n_arg, const char *w_arg)
{
    const int32_t n = n_arg ? parse_count(n_arg) : 1;
    const int32_t w = w_arg ? parse_count(w_arg) : 10;

    if (n <= 0) {
        refuse("iterations", ">0");
    } else if (n > MAX_RUNS) {
        refuse("iterations", "<=" STR(MAX_RUNS));
    } else if (w < 0) {
        refuse("warmup", ">=0");
    } else if (w > MAX_RUNS) {
        refuse("warmup", "<=" STR(MAX_RUNS));
    } else if (state.db_size != BS4NN_N_INPUT || state.db_pos != BS4NN_N_INPUT) {
        bs4nn_text_write("e-[Input db has ");
        bs4nn_text_write_u32(state.db_pos, 1);
        bs4nn_text_write(" elements, expected ");
        bs4nn_text_write_u32(BS4NN_N_INPUT, 1);
        bs4nn_text_write("]\r\n");
    } else {
        bs4nn_text_write("m-warmup-start-");
        bs4nn_text_write_u32((uint32_t)w, 1);
        bs4nn_text_write("\r\n");
        run((uint32_t)w, "m-warmup-progress-");
        bs4nn_text_write("m-warmup-done\r\nm-infer-start-");
        bs4nn_text_write_u32((uint32_t)n, 1);
        bs4nn_text_write("\r\n");
        timestamp();
        run((uint32_t)n, "m-infer-progress-");
        timestamp();
        bs4nn_text_write("m-infer-done\r\n");
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
    bs4nn_text_write("m-timestamp-mode-performance\r\n");
    timestamp();
    bs4nn_text_write("m-init-done\r\nm-ready\r\n");
}

void bs4nn_eembc_command(char *line)
{
    char *w[4];

    if (line == 0) {
        bs4nn_text_write("e-[Command too long]\r\n");
    } else if (split(line, w) == 0) {
        bs4nn_text_write("e-[Empty command]\r\n");
    } else if (bs4nn_text_eq(w[0], "name")) {
        say_line("m-name-dut-[bs4nn-", board_name(), "]");
    } else if (bs4nn_text_eq(w[0], "profile")) {
        say_line("m-profile-[", FW_VERSION, "]");
        say_line("m-model-[", MODEL_ID, "]");
        say_line("m-model-hash-[", BS4NN_MODEL_HASH_HEX, "]");
    } else if (bs4nn_text_eq(w[0], "timestamp")) {
        timestamp();
    } else if (bs4nn_text_eq(w[0], "db")) {
        db(w[1], w[2]);
    } else if (bs4nn_text_eq(w[0], "infer")) {
        infer(w[1], w[2]);
    } else if (bs4nn_text_eq(w[0], "results")) {
        results();
    } else if (bs4nn_text_eq(w[0], "help")) {
        bs4nn_text_write(FW_VERSION); /* the profile's string: no second copy in flash */
        bs4nn_text_write("\r\nname, profile, timestamp, db load N, db HH.., db print, "
                         "infer N [W=10], results, help\r\n");
    } else {
        say_line("e-[Unknown command: ", w[0], "]");
    }
    bs4nn_text_write("m-ready\r\n");
}
