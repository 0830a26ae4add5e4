/* Bit-sliced kernel: 32 neurons per word, their counts held as bit planes, brought up to
 * date only when one of them could fire.
 *
 * Lane word w of a layer holds neurons 32w .. 32w + 31; plane p holds bit p of their ones (the
 * count of +1 synapses among the spikes received; docs/design.md section 1). A spiking input
 * adds one weight word to a lane word: one word of its row, since every row starts on a word
 * (docs/design.md section 3).
 *
 * Steps go in order. A lane word whose largest alive ones was m when it last held N spikes
 * cannot fire before it holds trig = K + 2N - 2m spikes (each spike adds at most 1 to ones and
 * 1/2 to the bound ceil((K + spikes) / 2)). So at each step only the words whose trig has been
 * reached are looked at:
 *   - the first weight layer's words are lazy: the input spikes are the bucketed order[] (step
 *     by step), and a word adds the rows order[synced .. N) only when it is looked at (a carry-
 *     save adder over up to 15 rows, then one addition into the planes);
 *   - deeper layers receive few spikes: each firing neuron's row is added to them at once.
 * Then the word's alive lanes with ones >= the step's bound fire, and trig is computed again.
 * The output layer's first firing is the decision. Bit-exact with ref (tests/test_c_core.py).
 * On Thumb-2 cores (Cortex-M3 and up) the carry-save row adder is hand-written assembly
 * (add_rows_thumb2); -DBS4NN_PORTABLE_ROWS keeps the C one there too.
 */
#include "bs4nn_infer.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_sliced

#define NEVER 0xFFFFFFFFu /* trig of a word without alive lanes */
/* two weight layers: layer_step is inlined once per layer, with l a constant in each copy;
 * deeper networks share one copy (the flash budget) */
#define STEP_PER_LAYER (BS4NN_NUM_LAYERS == 2)

#ifdef __GNUC__
#define HOT static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline))
#define FALLTHROUGH __attribute__((fallthrough))
#define LIKELY(x) __builtin_expect((x), 1)
/* loads stay after it (a compiler barrier, no instruction) */
#define LOADS_AFTER_HERE() __asm__ volatile("" ::: "memory")
#else
#define HOT static inline
#define COLD static
#define FALLTHROUGH (void)0
#define LIKELY(x) (x)
#define LOADS_AFTER_HERE() ((void)0)
#endif

static uint32_t ctz32(uint32_t x)
{
#ifdef __GNUC__
    return (uint32_t)__builtin_ctz(x);
#else
    uint32_t n = 0;
    while ((x & 1u) == 0) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

static uint32_t popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

static uint32_t bit_length(uint32_t x)
{
#ifdef __GNUC__
    return x == 0 ? 0 : 32u - (uint32_t)__builtin_clz(x);
#else
    uint32_t n = 0;
    while (x != 0) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

/* planes += x: a ripple carry that stops when no lane carries (ones < 2^BS4NN_PLANES). A lane
 * carries where x is 1 and the new plane bit is 0 (x & v == x & ~(v ^ x)): one register fewer. */
HOT void add_word(uint32_t *pl, uint32_t x)
{
    while (x != 0) {
        const uint32_t sum = *pl ^ x;
        *pl++ = sum;
        x &= ~sum;
    }
}

/* planes += a (four bit planes of a sum of at most 15 words). A full adder's carry is the
 * majority of plane x, a and carry c, ((x ^ c) & (a ^ c)) ^ c: fewer values live at once than
 * (x & a) | ((x ^ a) & c), which Thumb-1 (eight low registers) spilled. */
#define FULL_ADD(p, a)        \
    x = pl[p] ^ c;            \
    pl[p] = x ^ (a);          \
    c ^= x & ((a) ^ c);
HOT void add_four(uint32_t *pl, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3)
{
    uint32_t x = pl[0];
    uint32_t c = x & a0;

    pl[0] = x ^ a0;
    FULL_ADD(1, a1)
    FULL_ADD(2, a2)
    FULL_ADD(3, a3)
    add_word(pl + 4, c);
}
#undef FULL_ADD

/* Thumb-2 (Cortex-M3 and up): the carry-save row adder of add_rows in hand-written assembly,
 * the same sums: rounds of up to 15 rows added by carry-save adders into four planes (r4-r7),
 * which then go into the word's planes 0-5 with one multiple load and store (the carry out of
 * plane 5 ripples on, rarely). A round of m rows starts with its first (m - 1) % 4 + 1 rows
 * summed straight into zero planes (no adder for the planes still zero), then adds four rows
 * at a time; a look's last single row (all of a one-row look) goes in with a ripple carry.
 * Registers: r0 planes, r1 base, r2 o, r3 n. Words of fewer than six planes (fan-in < 64)
 * keep the C adder. */
#if defined(__GNUC__) && defined(__thumb2__) && !defined(BS4NN_PORTABLE_ROWS) && \
    BS4NN_PLANES >= 6
#define BS4NN_THUMB2_ROWS 1
#define ARG __attribute__((unused)) /* the arguments are r0-r3 in the assembly */
__attribute__((naked, noinline)) static void add_rows_thumb2(ARG uint32_t *pl,
                                                             ARG const uint32_t *base,
                                                             ARG const uint16_t *o, ARG uint32_t n)
{
    __asm__ volatile(
        ".syntax unified\n"
        ".macro row x\n" /* x = the weight word of the next row: base[*o++] */
        "    ldrh    r12, [r2], #2\n"
        "    ldr     \\x, [r1, r12, lsl #2]\n"
        ".endm\n"
        "    push    {r4-r11, lr}\n"
        "1:  cmp     r3, #1\n" /* a round: m = min(n, 15) rows */
        "    bls     8f\n"
        "    usat    r12, #4, r3\n"
        "    sub     r3, r3, r12\n"
        "    push    {r1, r3}\n"
        "    lsr     r3, r12, #2\n" /* m / 4 (one less when h = 4) times four rows after h */
        "    tbb     [pc, r12]\n" /* by m: the first h = (m - 1) % 4 + 1 rows, into zero planes */
        "0:  .byte   (21f - 0b) / 2, (21f - 0b) / 2, (22f - 0b) / 2, (23f - 0b) / 2\n"
        "    .byte   (24f - 0b) / 2, (21f - 0b) / 2, (22f - 0b) / 2, (23f - 0b) / 2\n"
        "    .byte   (24f - 0b) / 2, (21f - 0b) / 2, (22f - 0b) / 2, (23f - 0b) / 2\n"
        "    .byte   (24f - 0b) / 2, (21f - 0b) / 2, (22f - 0b) / 2, (23f - 0b) / 2\n"
        "21: row     r4\n" /* h = 1 */
        "    movs    r5, #0\n"
        "    movs    r6, #0\n"
        "    movs    r7, #0\n"
        "    b       3f\n"
        "22: row     r8\n" /* h = 2: a half adder */
        "    row     r9\n"
        "    eor     r4, r8, r9\n"
        "    and     r5, r8, r9\n"
        "    movs    r6, #0\n"
        "    movs    r7, #0\n"
        "    b       3f\n"
        "24: row     r8\n" /* h = 4: the four-row round from zero planes */
        "    row     r9\n"
        "    row     r10\n"
        "    row     r11\n"
        "    eor     r12, r8, r9\n"
        "    and     r8, r8, r9\n"
        "    eor     lr, r12, r10\n"
        "    and     r12, r12, r10\n"
        "    and     r9, lr, r11\n"
        "    orr     r9, r12, r9\n"
        "    eor     r4, lr, r11\n"
        "    eor     r5, r8, r9\n"
        "    and     r6, r8, r9\n"
        "    movs    r7, #0\n"
        "    subs    r3, #1\n" /* m / 4 - 1 */
        "    b       3f\n"
        "23: row     r8\n" /* h = 3: a full adder */
        "    row     r9\n"
        "    row     r10\n"
        "    eor     r12, r8, r9\n"
        "    and     r5, r8, r9\n"
        "    and     lr, r12, r10\n"
        "    orr     r5, r5, lr\n"
        "    eor     r4, r12, r10\n"
        "    movs    r6, #0\n"
        "    movs    r7, #0\n"
        "3:  cbz     r3, 5f\n"
        "2:  row     r8\n" /* four rows: three full adders, two half adders */
        "    row     r9\n"
        "    row     r10\n"
        "    row     r11\n"
        "    eor     r12, r4, r8\n"
        "    and     r8, r4, r8\n"
        "    and     lr, r12, r9\n"
        "    orr     r8, r8, lr\n"
        "    eor     r4, r12, r9\n"
        "    eor     r12, r4, r10\n"
        "    and     r10, r4, r10\n"
        "    and     lr, r12, r11\n"
        "    orr     r9, r10, lr\n"
        "    eor     r4, r12, r11\n"
        "    eor     r12, r5, r8\n"
        "    and     r8, r5, r8\n"
        "    and     lr, r12, r9\n"
        "    orr     r8, r8, lr\n"
        "    eor     r5, r12, r9\n"
        "    and     lr, r6, r8\n"
        "    eor     r6, r6, r8\n"
        "    eor     r7, r7, lr\n"
        "    subs    r3, #1\n"
        "    bne     2b\n"
        "5:  ldm     r0, {r1, r3, r8-r11}\n" /* planes 0-5 (r1, r3, r8-r11) += r4..r7 */
        "    and     r12, r1, r4\n"
        "    eor     r1, r1, r4\n"
        "    eor     lr, r3, r5\n"
        "    and     r5, r3, r5\n"
        "    eor     r3, lr, r12\n"
        "    and     lr, lr, r12\n"
        "    orr     r12, r5, lr\n"
        "    eor     lr, r8, r6\n"
        "    and     r6, r8, r6\n"
        "    eor     r8, lr, r12\n"
        "    and     lr, lr, r12\n"
        "    orr     r12, r6, lr\n"
        "    eor     lr, r9, r7\n"
        "    and     r7, r9, r7\n"
        "    eor     r9, lr, r12\n"
        "    and     lr, lr, r12\n"
        "    orr     r12, r7, lr\n"
        "    and     lr, r10, r12\n"
        "    eor     r10, r10, r12\n"
        "    ands    r12, r11, lr\n"
        "    eor     r11, r11, lr\n"
        "    stm     r0, {r1, r3, r8-r11}\n"
        "    pop     {r1, r3}\n"
        "    beq     1b\n"
        "    add     r4, r0, #24\n"
        "6:  ldr     lr, [r4]\n" /* the carry out of plane 5 ripples on */
        "    eor     lr, lr, r12\n"
        "    str     lr, [r4], #4\n"
        "    bics    r12, r12, lr\n"
        "    bne     6b\n"
        "    b       1b\n"
        "8:  cbz     r3, 9f\n" /* a last single row, with a ripple carry */
        "    ldrh    r12, [r2]\n"
        "    ldr     r5, [r1, r12, lsl #2]\n"
        "    cbz     r5, 9f\n"
        "7:  ldr     lr, [r0]\n"
        "    eor     lr, lr, r5\n"
        "    str     lr, [r0], #4\n"
        "    bics    r5, r5, lr\n"
        "    bne     7b\n"
        "9:  pop     {r4-r11, pc}\n"
        ".purgem row\n");
}
#undef ARG
#endif

/* planes += the weight words base[o[i]] for o[0 .. n): carry-save adders sum up to 15 of them
 * into four planes a0..a3 (four rows per round: three full adders and two half adders), which
 * then go into the planes at once. */
static void add_rows(uint32_t *pl, const uint32_t *base, const uint16_t *o, uint32_t n)
{
#ifdef BS4NN_THUMB2_ROWS
    add_rows_thumb2(pl, base, o, n);
#else
    while (n > 2u) {
        const uint32_t m = n < 15u ? n : 15u;
        const uint16_t *const stop = o + (m & ~3u);
        uint32_t a0 = 0;
        uint32_t a1 = 0;
        uint32_t a2 = 0;
        uint32_t a3 = 0;
        uint32_t x;
        uint32_t c1;
        uint32_t c2;

        for (; o != stop; o += 4) {
            const uint32_t x0 = base[o[0]];
            const uint32_t x1 = base[o[1]];
            uint32_t x2;
            uint32_t x3;
            uint32_t u = a0 ^ x0;
            uint32_t d0 = (a0 & x0) | (u & x1);
            uint32_t d1;
            a0 = u ^ x1;
            /* the second pair's rows loaded after the first pair's adder: GCC otherwise loads
             * all four first, and on Thumb-1 (Cortex-M0/M0+, 8 low registers) spills them */
            LOADS_AFTER_HERE();
            x2 = base[o[2]];
            x3 = base[o[3]];
            u = a0 ^ x2;
            d1 = (a0 & x2) | (u & x3);
            a0 = u ^ x3;
            u = a1 ^ d0;
            c1 = (a1 & d0) | (u & d1);
            a1 = u ^ d1;
            c2 = a2 & c1;
            a2 ^= c1;
            a3 ^= c2;
        }
        if (m & 2u) {
            const uint32_t x0 = base[o[0]];
            const uint32_t x1 = base[o[1]];
            const uint32_t u = a0 ^ x0;
            c1 = (a0 & x0) | (u & x1);
            a0 = u ^ x1;
            o += 2;
            c2 = a1 & c1;
            a1 ^= c1;
            c1 = a2 & c2;
            a2 ^= c2;
            a3 ^= c1;
        }
        if (m & 1u) {
            x = base[*o++];
            c1 = a0 & x;
            a0 ^= x;
            c2 = a1 & c1;
            a1 ^= c1;
            c1 = a2 & c2;
            a2 ^= c2;
            a3 ^= c1;
        }
        add_four(pl, a0, a1, a2, a3);
        n -= m;
    }
    for (; n != 0; n--) {
        add_word(pl, base[*o++]);
    }
#endif
}

/* Largest ones among *lanes (!= 0); ones < 2^nb. Top plane down: a lane that has the bit
 * beats every lane that has not; *lanes is left with the lanes that have the largest ones.
 * Unrolled (one case per plane): every look runs it, and a look that fires runs it again for
 * the largest ones of the lanes left. */
#define MAX_PLANE(p)                                                                        \
    x = lanes & pl[p];                                                                      \
    if (x != 0) {                                                                           \
        lanes = x;                                                                          \
        m |= 1u << (p);                                                                     \
    }
HOT uint32_t lane_max(const uint32_t *pl, uint32_t *top, uint32_t nb)
{
    uint32_t lanes = *top;
    uint32_t m = 0;
    uint32_t x;

    switch (nb) { /* nb <= BS4NN_PLANES */
#if BS4NN_PLANES > 15
    case 16: MAX_PLANE(15) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 14
    case 15: MAX_PLANE(14) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 13
    case 14: MAX_PLANE(13) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 12
    case 13: MAX_PLANE(12) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 11
    case 12: MAX_PLANE(11) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 10
    case 11: MAX_PLANE(10) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 9
    case 10: MAX_PLANE(9) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 8
    case 9: MAX_PLANE(8) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 7
    case 8: MAX_PLANE(7) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 6
    case 7: MAX_PLANE(6) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 5
    case 6: MAX_PLANE(5) FALLTHROUGH;
#endif
#if BS4NN_PLANES > 4
    case 5: MAX_PLANE(4) FALLTHROUGH;
#endif
    case 4: MAX_PLANE(3) FALLTHROUGH;
    case 3: MAX_PLANE(2) FALLTHROUGH;
    case 2: MAX_PLANE(1) FALLTHROUGH;
    case 1: MAX_PLANE(0) FALLTHROUGH;
    default:
        break;
    }
    *top = lanes;
    return m;
}

/* lane_max as a loop: for the deeper layers, which look far less often (and small code keeps
 * the flash budget). */
COLD uint32_t lane_max_loop(const uint32_t *pl, uint32_t *top, uint32_t nb)
{
    uint32_t lanes = *top;
    uint32_t m = 0;

    while (nb-- != 0) {
        const uint32_t x = lanes & pl[nb];
        m <<= 1;
        if (x != 0) {
            lanes = x;
            m |= 1u;
        }
    }
    *top = lanes;
    return m;
}

/* Lanes with ones >= need, for 1 <= need <= 2^nb and ones < 2^nb: the carry out of
 * ones + (2^nb - need) past bit nb - 1 (where the constant's bit is 1 the carry is
 * plane | carry, else plane & carry). */
static uint32_t lanes_at_least(const uint32_t *pl, uint32_t need, uint32_t nb)
{
    uint32_t add = (1u << nb) - need;
    const uint32_t *const end = pl + nb;
    uint32_t c = 0;

    for (; pl != end; pl++, add >>= 1) {
        c = (add & 1u) ? (c | *pl) : (c & *pl);
    }
    return c;
}

/* A layer during a step: its lane words, thresholds and spikes received. */
typedef struct {
    uint32_t first; /* its first lane word */
    uint32_t words;
    uint32_t k;
    uint32_t recv;    /* spikes received, this step's included */
    uint32_t mintrig; /* the smallest trig of its words */
    uint32_t fired;   /* spikes it sent, this step's included */
} layer_t;

/* Layer l's first lane word and its number of words: constants in a copy per layer
 * (STEP_PER_LAYER: layer 0 the first, layer 1 the output layer), which frees registers. */
#define FIRST_WORD(ly, l) \
    (STEP_PER_LAYER ? ((l) == 0 ? 0u : BS4NN_FIRST_LANE_WORDS) : (ly)->first)
#define WORDS_OF(ly, l)                                                                    \
    (STEP_PER_LAYER ? ((l) == 0 ? BS4NN_FIRST_LANE_WORDS : BS4NN_WORDS(BS4NN_N_OUTPUT)) \
                    : (ly)->words)

/* The lanes of word lw that fire with `recv` spikes received (dropped from alive); its trig is
 * computed again. */
HOT uint32_t fire_word(uint32_t lw, const layer_t *ly, uint32_t need, uint32_t nb, int unrolled)
{
    bs4nn_state_t *st = &bs4nn_state;
    const uint32_t *pl = st->planes[lw];
    uint32_t alive = st->alive[lw];
    uint32_t f = alive;
    uint32_t m = unrolled ? lane_max(pl, &f, nb) : lane_max_loop(pl, &f, nb);
    uint32_t f2; /* the lanes left with the largest ones (not needed) */

    if (m < need) {
        f = 0;
    } else {
        if (m != need) { /* else the lanes with the largest ones are those that fire */
            f = alive & lanes_at_least(pl, need, nb);
        }
        alive &= ~f;
        st->alive[lw] = alive;
        if (alive == 0) {
            st->trig[lw] = NEVER;
            return f;
        }
        f2 = alive;
        m = unrolled ? lane_max(pl, &f2, nb) : lane_max_loop(pl, &f2, nb);
    }
    m = ly->k + 2u * (ly->recv - m);
    st->trig[lw] = m;
    return f;
}

/* Neuron j of layer l fired: its row reaches every lane word of layer l + 1 at once. */
static void send_spike(const layer_t *next, uint32_t l, uint32_t j)
{
    const uint32_t words = WORDS_OF(next, l + 1);
    const uint32_t *row = bs4nn_weights[l + 1] + j * words;
    uint32_t (*pl)[BS4NN_PLANES] = bs4nn_state.planes + FIRST_WORD(next, l + 1);
    uint32_t v;

    for (v = 0; v < words; v++) {
        add_word(pl[v], row[v]);
    }
}

static void reset_state(layer_t *layers, const int16_t *k)
{
    bs4nn_state_t *st = &bs4nn_state;
    uint32_t l;
    uint32_t w;
    uint32_t lw = 0;
    uint32_t *pl = st->planes[0];
    uint32_t left = sizeof st->planes / sizeof *pl;

    /* zero loops, not libc's memset (162 bytes of flash) */
    for (; left >= 4u; left -= 4u, pl += 4) {
        pl[0] = 0;
        pl[1] = 0;
        pl[2] = 0;
        pl[3] = 0;
    }
    for (; left != 0u; left--) {
        *pl++ = 0;
    }
    for (w = 0; w < BS4NN_FIRST_LANE_WORDS; w++) {
        st->synced[w] = 0;
    }
    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        const uint32_t n = bs4nn_layer_sizes[l + 1];
        layers[l].first = lw;
        layers[l].words = BS4NN_WORDS(n);
        layers[l].k = (uint32_t)k[l];
        layers[l].recv = 0;
        layers[l].mintrig = (uint32_t)k[l];
        layers[l].fired = 0;
        for (w = 0; w < BS4NN_WORDS(n); w++, lw++) {
            st->alive[lw] = (32u * (w + 1u) <= n) ? 0xFFFFFFFFu : (1u << (n % 32u)) - 1u;
            st->trig[lw] = (uint32_t)k[l];
        }
    }
}

/* First-layer word lw takes the input spikes order[synced .. recv) it has not seen. */
HOT void sync_word(uint32_t lw, uint32_t recv)
{
    bs4nn_state_t *st = &bs4nn_state;

    add_rows(st->planes[lw], bs4nn_weights[0] + lw, st->order + st->synced[lw],
             recv - st->synced[lw]);
    st->synced[lw] = recv;
}

/* A network without hidden layer: its output words take every input spike so far (the ones
 * of outputs that did not fire are read too). */
static void sync_outputs(uint32_t recv)
{
    uint32_t lw;

    if (BS4NN_NUM_LAYERS != 1) {
        return;
    }
    for (lw = 0; lw < BS4NN_WORDS(BS4NN_N_OUTPUT); lw++) {
        sync_word(lw, recv);
    }
}

/* Ones of output j. */
static int32_t output_ones(uint32_t j)
{
    uint32_t lw = 0;
    uint32_t l;
    const uint32_t *pl;
    int32_t ones = 0;
    uint32_t p;

    for (l = 0; l + 1 < BS4NN_NUM_LAYERS; l++) {
        lw += BS4NN_WORDS(bs4nn_layer_sizes[l + 1]);
    }
    pl = bs4nn_state.planes[lw + j / 32u];
    for (p = 0; p < BS4NN_PLANES; p++) {
        ones += (int32_t)((pl[p] >> (j % 32u)) & 1u) << p;
    }
    return ones;
}

void bs4nn_output_ones(int32_t ones[BS4NN_N_OUTPUT])
{
    uint32_t j;

    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        ones[j] = output_ones(j);
    }
}

/* Layer l at a step: the words whose trig the step reached are brought up to date (the first
 * layer's) and fire; their spikes go to layer l + 1, or, from the output layer, to out_fired. */
HOT void layer_step(layer_t *layers, uint32_t l, uint32_t *out_fired)
{
    bs4nn_state_t *st = &bs4nn_state;
    layer_t *ly = &layers[l];
    const uint32_t recv = ly->recv;
    const uint32_t need = (ly->k + recv + 1u) >> 1;
    const uint32_t first = FIRST_WORD(ly, l);
    const uint32_t words = WORDS_OF(ly, l);
    /* in a copy per layer (STEP_PER_LAYER) the output layer searches with a loop (small code) */
    const int unrolled = !STEP_PER_LAYER || l == 0;
    uint32_t mintrig = NEVER;
    uint32_t w;

    for (w = 0; w < words; w++) {
        const uint32_t lw = first + w;
        const uint32_t trig = st->trig[lw];
        uint32_t f;

        if (LIKELY(trig > recv)) { /* most words are not due: the scan's path falls through */
            if (trig < mintrig) {
                mintrig = trig;
            }
            continue;
        }
        if (l == 0) {
            sync_word(lw, recv);
        }
        /* trig = K + 2 (spikes - m) when the word last held `spikes`: now its largest alive
         * ones is at most recv - (trig - K) / 2 */
        f = fire_word(lw, ly, need, bit_length(recv - (trig - ly->k) / 2u), unrolled);
        if (st->trig[lw] < mintrig) {
            mintrig = st->trig[lw];
        }
        if (f == 0) {
            continue;
        }
        if (l + 1 == BS4NN_NUM_LAYERS) {
            ly->fired += popcount32(f);
            out_fired[w] = f;
            continue;
        }
        do {
            send_spike(&layers[l + 1], l, 32u * w + ctz32(f));
            ly->fired++;
            f &= f - 1u;
        } while (f != 0);
    }
    ly->mintrig = mintrig;
}

void bs4nn_kernel_infer(const uint8_t *pixels, const int16_t *k, bs4nn_result_t *r)
{
    bs4nn_state_t *st = &bs4nn_state;
    layer_t layers[BS4NN_NUM_LAYERS];
    uint32_t out_fired[BS4NN_WORDS(BS4NN_N_OUTPUT)];
    int32_t ones[BS4NN_N_OUTPUT];
    uint8_t fired[BS4NN_N_OUTPUT];
    uint32_t t;
    uint32_t l;
    uint32_t j;

    reset_state(layers, k);
    for (j = 0; j < BS4NN_WORDS(BS4NN_N_OUTPUT); j++) {
        out_fired[j] = 0;
    }
    bs4nn_bucket_inputs(pixels, st->order, st->start, BS4NN_WORDS(bs4nn_layer_sizes[1]));
    for (t = 0; t < BS4NN_TMAX; t++) {
        const uint32_t n = st->start[t + 1];
        int decided = 0;

        if (n == layers[0].recv) {
            continue; /* no input spike: nothing can fire */
        }
        layers[0].recv = n;
        for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
            uint32_t before;

            if (l > 0) {
                if (layers[l - 1].fired == layers[l].recv) {
                    break; /* the layer received nothing: nothing further can fire */
                }
                layers[l].recv = layers[l - 1].fired;
            }
            if (layers[l].recv < layers[l].mintrig) {
                break;
            }
            before = layers[l].fired;
            if (!STEP_PER_LAYER) {
                layer_step(layers, l, out_fired);
            } else if (l == 0) {
                layer_step(layers, 0, out_fired);
            } else {
                layer_step(layers, 1, out_fired);
            }
            if (l + 1 == BS4NN_NUM_LAYERS && layers[l].fired != before) {
                decided = 1;
            }
        }
        if (decided) {
            for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
                r->spikes[l] = (uint16_t)layers[l].recv;
            }
            r->spikes[BS4NN_NUM_LAYERS] = (uint16_t)layers[BS4NN_NUM_LAYERS - 1].fired;
            r->decision_step = (uint16_t)t;
            sync_outputs(layers[0].recv);
            for (j = 0; j < BS4NN_N_OUTPUT; j++) {
                fired[j] = (uint8_t)((out_fired[j / 32u] >> (j % 32u)) & 1u);
                ones[j] = fired[j] ? output_ones(j) : 0;
                if (fired[j]) {
                    r->output_steps[j] = (uint16_t)t;
                }
            }
            r->label = bs4nn_pick_label(ones, fired);
            return;
        }
    }
    /* fallback: no output fired by t = 255; the largest count wins */
    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        r->spikes[l] = (uint16_t)layers[l].recv;
    }
    r->decision_step = BS4NN_TMAX - 1;
    r->flags = BS4NN_FLAG_FALLBACK;
    sync_outputs(layers[0].recv);
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        ones[j] = output_ones(j);
    }
    r->label = bs4nn_pick_label(ones, 0);
}

#endif
