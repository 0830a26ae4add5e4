/* Bit-sliced kernel: 32 neurons per word, their counts held as bit planes.
 *
 * Lane word w of a layer holds neurons 32w .. 32w + 31; plane p holds bit p of their ones (the
 * count of +1 synapses among the spikes received; docs/design.md section 1 and
 * firmware_template/README.md). A spiking input adds one weight word to the lane word: one
 * word of its row, since every row starts on a word (docs/design.md section 3).
 *
 * The work goes lane word by lane word over a chunk of up to BS4NN_CHUNK input steps (a neuron
 * can only fire at a step in which its layer received spikes, and every spike starts at an
 * input step). For one lane word:
 *   - the step's weight words are summed into a 4-plane pending counter in registers (a
 *     carry-save full adder per pair of rows), not into the planes;
 *   - `top`, an upper bound of the ones of the word's alive (not yet fired) lanes in the
 *     planes, plus the pending spikes is compared with the step's bound need = ceil((K +
 *     received) / 2); only when it reaches need is the pending counter's own largest alive
 *     lane taken instead, and only when that still reaches need is the pending sum added to
 *     the planes and the exact largest alive lane found;
 *   - when that reaches need, the lanes with ones >= need fire (a bit-sliced comparison).
 * In the input layer's pass the steps before the next one at which a lane could fire are
 * summed in one run: their rows are consecutive in the bucketed order.
 * Fired lanes are recorded per chunk step and feed the next layer's pass over the same chunk.
 * The output layer's pass stops at the first step at which an output fires: the decision.
 * Bit-exact with ref (tests/test_c_core.py).
 */
#include "bs4nn_infer.h"

#if BS4NN_KERNEL_ID == BS4NN_KERNEL_ID_sliced

#include <string.h>

#define NO_LANE (-32768) /* `top` of a word without alive lanes */

/* The lane word's state must stay in registers: its helpers are always inlined. */
#ifdef __GNUC__
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

/* One chunk: its steps and, per layer input (0 = pixels, l = layer l's firings), the spikes
 * received at each step and before the chunk. */
typedef struct {
    uint32_t n;
    uint8_t t[BS4NN_CHUNK];
    uint16_t first[BS4NN_CHUNK]; /* the step's input bucket starts at order[first] */
    uint16_t inc[BS4NN_NUM_LAYERS + 1][BS4NN_CHUNK];
    uint16_t recv[BS4NN_NUM_LAYERS + 1];
} chunk_t;

/* One chunk step as a layer pass sees it. */
typedef struct {
    const uint16_t *rows; /* weight layer 0: the step's row offsets (in order[]) */
    uint32_t n;           /* spikes the layer receives at this step */
    int32_t need;         /* a lane fires when its ones reach this */
    int32_t cum;          /* spikes of the chunk up to this step */
    uint32_t nb;          /* ones < 2^nb */
} step_t;

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
    uint32_t n = 0;
    while (x != 0) {
        x >>= 1;
        n++;
    }
    return n;
}

/* One lane word while a pass works on it (locals, kept in registers): the pending counter
 * (bit planes a0..a3 of the sum of its weight words since they last reached the planes, and
 * their number np, at most 15), `top` (>= the largest ones of its alive lanes in the planes)
 * and the alive lanes. */
typedef struct {
    uint32_t a0, a1, a2, a3, np;
    int32_t top;
    uint32_t alive;
    uint32_t *pl; /* its planes */
} lane_t;

/* planes += a (four bit planes of a pending sum). */
static void add_to_planes(uint32_t *pl, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3)
{
    uint32_t x = pl[0];
    uint32_t c = x & a0;
    uint32_t s;
    uint32_t q;

    pl[0] = x ^ a0;
    x = pl[1];
    s = x ^ a1;
    pl[1] = s ^ c;
    c = (x & a1) | (s & c);
    x = pl[2];
    s = x ^ a2;
    pl[2] = s ^ c;
    c = (x & a2) | (s & c);
    x = pl[3];
    s = x ^ a3;
    pl[3] = s ^ c;
    c = (x & a3) | (s & c);
    for (q = BS4NN_PEND_PLANES; c != 0 && q < BS4NN_PLANES; q++) {
        x = pl[q];
        pl[q] = x ^ c;
        c &= x;
    }
}

/* The pending sum reaches the planes; `top` stays an upper bound. */
HOT void flush(lane_t *z)
{
    add_to_planes(z->pl, z->a0, z->a1, z->a2, z->a3);
    z->a0 = z->a1 = z->a2 = z->a3 = 0;
    z->top += (int32_t)z->np;
    z->np = 0;
}

HOT void add1(lane_t *z, uint32_t x)
{
    uint32_t c1;
    uint32_t c2;

    if (z->np > 14u) {
        flush(z);
    }
    c1 = z->a0 & x;
    z->a0 ^= x;
    c2 = z->a1 & c1;
    z->a1 ^= c1;
    c1 = z->a2 & c2;
    z->a2 ^= c2;
    z->a3 ^= c1;
    z->np += 1u;
}

/* Add the weight words base[o[i]] of the row offsets o[0 .. n): pairs while the pending
 * counter has room (it holds 15), flushing when it is full. */
HOT void add_rows(lane_t *z, const uint32_t *base, const uint16_t *o, uint32_t n)
{
    while (n >= 2u) {
        uint32_t pairs = (15u - z->np) / 2u;
        uint32_t a0 = z->a0;
        uint32_t a1 = z->a1;
        uint32_t a2 = z->a2;
        uint32_t a3 = z->a3;
        const uint16_t *stop;

        if (pairs == 0) {
            flush(z);
            continue;
        }
        if (pairs > n / 2u) {
            pairs = n / 2u;
        }
        stop = o + 2u * pairs;
        for (; o != stop; o += 2) {
            const uint32_t x = base[o[0]];
            const uint32_t y = base[o[1]];
            const uint32_t u = a0 ^ x;
            uint32_t c1 = (a0 & x) | (u & y);
            uint32_t c2 = a1 & c1;
            a0 = u ^ y;
            a1 ^= c1;
            c1 = a2 & c2;
            a2 ^= c2;
            a3 ^= c1;
        }
        z->a0 = a0;
        z->a1 = a1;
        z->a2 = a2;
        z->a3 = a3;
        z->np += 2u * pairs;
        n -= 2u * pairs;
    }
    if (n != 0) {
        add1(z, base[o[0]]);
    }
}

/* Largest pending sum among the alive lanes (0 if none). */
HOT uint32_t pend_max(const lane_t *z)
{
    uint32_t lanes = z->alive;
    uint32_t m = 0;
    uint32_t x;

    if ((x = lanes & z->a3) != 0) {
        lanes = x;
        m = 8;
    }
    if ((x = lanes & z->a2) != 0) {
        lanes = x;
        m |= 4;
    }
    if ((x = lanes & z->a1) != 0) {
        lanes = x;
        m |= 2;
    }
    if ((lanes & z->a0) != 0) {
        m |= 1;
    }
    return m;
}

/* Largest ones among `lanes` (NO_LANE if none); ones < 2^nb. */
static int32_t lane_max(const uint32_t *pl, uint32_t lanes, uint32_t nb)
{
    const uint32_t *p = pl + nb;
    uint32_t m = 0;

    if (lanes == 0) {
        return NO_LANE;
    }
    while (p != pl) {
        const uint32_t x = lanes & *--p;
        m <<= 1;
        if (x != 0) {
            lanes = x;
            m |= 1u;
        }
    }
    return (int32_t)m;
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

static uint32_t lane_offset(uint32_t l)
{
    uint32_t off = 0;
    uint32_t i;

    for (i = 0; i < l; i++) {
        off += BS4NN_WORDS(bs4nn_layer_sizes[i + 1]);
    }
    return off;
}

/* Pass of weight layer l over chunk steps 0 .. limit - 1, lane word by lane word; fills
 * fired[s] of the layer's lanes and c->inc[l + 1]. With `stop` (the output layer) a word stops
 * at its first firing step s and so do the words after it: returns the steps covered. */
/* The pending sum into the planes; the largest ones of the alive lanes. */
static int32_t settle(uint32_t *pl, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                      uint32_t alive, uint32_t nb)
{
    add_to_planes(pl, a0, a1, a2, a3);
    return lane_max(pl, alive, nb);
}

/* After the spikes of a step: the alive lanes with ones >= need fire (returned, and dropped
 * from alive). Bounds first (top plus the pending sum's largest alive lane), the exact planes
 * only when those cannot rule it out. */
HOT uint32_t fire(lane_t *z, const step_t *sp)
{
    uint32_t f;

    if (z->top + (int32_t)z->np < sp->need || z->top + (int32_t)pend_max(z) < sp->need) {
        return 0;
    }
    z->top = settle(z->pl, z->a0, z->a1, z->a2, z->a3, z->alive, sp->nb);
    z->a0 = z->a1 = z->a2 = z->a3 = 0;
    z->np = 0;
    if (z->top < sp->need) {
        return 0;
    }
    f = z->alive & lanes_at_least(z->pl, (uint32_t)sp->need, sp->nb);
    z->alive &= ~f;
    z->top = lane_max(z->pl, z->alive, sp->nb);
    return f;
}

HOT void load_lane(lane_t *z, uint32_t lw)
{
    const bs4nn_state_t *st = &bs4nn_state;

    z->a0 = st->z.pend[lw][0];
    z->a1 = st->z.pend[lw][1];
    z->a2 = st->z.pend[lw][2];
    z->a3 = st->z.pend[lw][3];
    z->np = st->z.npend[lw];
    z->top = st->z.top[lw];
    z->alive = st->alive[lw];
    z->pl = bs4nn_state.z.planes[lw];
}

HOT void store_lane(const lane_t *z, uint32_t lw)
{
    bs4nn_state_t *st = &bs4nn_state;

    st->z.pend[lw][0] = z->a0;
    st->z.pend[lw][1] = z->a1;
    st->z.pend[lw][2] = z->a2;
    st->z.pend[lw][3] = z->a3;
    st->z.npend[lw] = (uint8_t)z->np;
    st->z.top[lw] = (int16_t)z->top;
    st->alive[lw] = z->alive;
}

/* Record lanes f of lane word lw (word w of a layer of `words` words from lane word off) as
 * fired at chunk step s. The first firing of the layer at a step clears the step's masks of all
 * its words: masks are read only at steps with firings, so nothing else clears them. */
static void record_fired(chunk_t *c, uint32_t l, uint32_t off, uint32_t words, uint32_t lw,
                         uint32_t s, uint32_t f)
{
    uint32_t v;

    if (c->inc[l + 1][s] == 0) {
        for (v = 0; v < words; v++) {
            bs4nn_state.fired[off + v][s] = 0;
        }
    }
    bs4nn_state.fired[lw][s] = f;
    c->inc[l + 1][s] = (uint16_t)(c->inc[l + 1][s] + popcount32(f));
}

/* The chunk steps as weight layer l sees them (received spikes, need, nb); clears the counts
 * of its firings, c->inc[l + 1]. */
static void layer_steps(uint32_t l, int32_t k, chunk_t *c, step_t *steps)
{
    uint32_t recv = c->recv[l];
    uint32_t nb = bit_length(recv);
    uint32_t s;

    for (s = 0; s < c->n; s++) {
        recv += c->inc[l][s];
        while ((recv >> nb) != 0) {
            nb++;
        }
        steps[s].rows = bs4nn_state.order + c->first[s];
        steps[s].n = c->inc[l][s];
        steps[s].need = (k + (int32_t)recv + 1) >> 1;
        steps[s].cum = (int32_t)(recv - c->recv[l]);
        steps[s].nb = nb;
        c->inc[l + 1][s] = 0;
    }
}

/* Pass of weight layer 0 (fed by the pixels) over the chunk, lane word by lane word. The rows
 * of consecutive steps are consecutive in order[], so the words of all steps at which no lane
 * can fire are summed in one run: with v = top + np - (spikes added so far in the chunk), a
 * lane can reach need at step s only if v >= need - (spikes of the chunk up to s), the step's
 * slack. With `stop` (a network without hidden layer) it stops like spike_pass. */
static uint32_t input_pass(int32_t k, chunk_t *c, int stop)
{
    const uint32_t words = BS4NN_WORDS(bs4nn_layer_sizes[1]);
    step_t steps[BS4NN_CHUNK];
    int32_t slack[BS4NN_CHUNK];
    uint32_t limit = c->n;
    uint32_t w;
    uint32_t s;

    layer_steps(0, k, c, steps);
    for (s = 0; s < c->n; s++) {
        slack[s] = steps[s].need - steps[s].cum;
    }
    for (w = 0; w < words; w++) {
        const uint32_t *const base = bs4nn_weights[0] + w;
        const uint16_t *o = steps[0].rows;
        lane_t z;
        int32_t v;

        load_lane(&z, w);
        v = z.top + (int32_t)z.np;
        for (s = 0; s < limit; s++) {
            const uint16_t *upto;
            uint32_t f;

            while (s < limit && v < slack[s]) {
                s++;
            }
            if (s == limit) {
                break;
            }
            upto = steps[s].rows + steps[s].n;
            add_rows(&z, base, o, (uint32_t)(upto - o));
            o = upto;
            f = fire(&z, &steps[s]);
            v = z.top + (int32_t)z.np - steps[s].cum; /* tighter when fire() reached the planes */
            if (f != 0) {
                record_fired(c, 0, 0, words, w, s, f);
                if (stop) {
                    limit = s + 1;
                }
            }
        }
        add_rows(&z, base, o, (uint32_t)(steps[limit - 1].rows + steps[limit - 1].n - o));
        store_lane(&z, w);
    }
    return limit;
}

/* Pass of weight layer l >= 1 (fed by layer l - 1's firings of the chunk) over chunk steps
 * 0 .. limit - 1, lane word by lane word. With `stop` (the output layer) a word stops at its
 * first firing step s and so do the words after it: returns the steps covered. */
static uint32_t spike_pass(uint32_t l, int32_t k, chunk_t *c, int stop)
{
    const uint32_t words = BS4NN_WORDS(bs4nn_layer_sizes[l + 1]);
    const uint32_t off = lane_offset(l);
    const uint32_t in_off = lane_offset(l - 1);
    const uint32_t in_words = BS4NN_WORDS(bs4nn_layer_sizes[l]);
    step_t steps[BS4NN_CHUNK];
    uint32_t limit = c->n;
    uint32_t s;
    uint32_t w;

    layer_steps(l, k, c, steps);
    for (w = 0; w < words; w++) {
        const uint32_t lw = off + w;
        const uint32_t *const base = bs4nn_weights[l] + w;
        lane_t z;

        load_lane(&z, lw);
        for (s = 0; s < limit; s++) {
            uint32_t v;
            uint32_t f;

            if (steps[s].n == 0) {
                continue;
            }
            for (v = 0; v < in_words; v++) {
                uint32_t m = bs4nn_state.fired[in_off + v][s];
                while (m != 0) {
                    const uint32_t j = 32u * v + ctz32(m);
                    m &= m - 1u;
                    add1(&z, base[j * words]);
                }
            }
            f = fire(&z, &steps[s]);
            if (f != 0) {
                record_fired(c, l, off, words, lw, s, f);
                if (stop) {
                    limit = s + 1;
                }
            }
        }
        store_lane(&z, lw);
    }
    return limit;
}

/* Ones of output j: planes plus pending. */
static int32_t output_ones(uint32_t j)
{
    const uint32_t lw = lane_offset(BS4NN_NUM_LAYERS - 1) + j / 32u;
    const uint32_t bit = j % 32u;
    const uint32_t *pl = bs4nn_state.z.planes[lw];
    const uint32_t *pe = bs4nn_state.z.pend[lw];
    int32_t ones = 0;
    uint32_t p;

    for (p = 0; p < BS4NN_PLANES; p++) {
        ones += (int32_t)((pl[p] >> bit) & 1u) << p;
    }
    for (p = 0; p < BS4NN_PEND_PLANES; p++) {
        ones += (int32_t)((pe[p] >> bit) & 1u) << p;
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

static void reset_state(void)
{
    uint32_t l;
    uint32_t w;
    uint32_t lw = 0;

    memset(&bs4nn_state.z, 0, sizeof bs4nn_state.z);
    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        const uint32_t n = bs4nn_layer_sizes[l + 1];
        for (w = 0; w < BS4NN_WORDS(n); w++, lw++) {
            bs4nn_state.alive[lw] = (32u * (w + 1u) <= n) ? 0xFFFFFFFFu : (1u << (n % 32u)) - 1u;
        }
    }
}

void bs4nn_kernel_infer(const uint8_t *pixels, const int16_t *k, bs4nn_result_t *r)
{
    bs4nn_state_t *st = &bs4nn_state;
    chunk_t c;
    int32_t ones[BS4NN_N_OUTPUT];
    uint8_t fired[BS4NN_N_OUTPUT];
    const uint32_t out_off = lane_offset(BS4NN_NUM_LAYERS - 1);
    uint32_t t = 0;
    uint32_t l;
    uint32_t j;
    uint32_t s;

    reset_state();
    bs4nn_bucket_inputs(pixels, st->order, st->start, BS4NN_WORDS(bs4nn_layer_sizes[1]));
    for (l = 0; l <= BS4NN_NUM_LAYERS; l++) {
        c.recv[l] = 0;
    }
    for (;;) {
        uint32_t covered;

        /* the next chunk: up to BS4NN_CHUNK steps that have input spikes */
        c.n = 0;
        for (; t < BS4NN_TMAX && c.n < BS4NN_CHUNK; t++) {
            const uint16_t b = st->start[t];
            const uint16_t e = st->start[t + 1];
            if (b != e) {
                c.t[c.n] = (uint8_t)t;
                c.first[c.n] = b;
                c.inc[0][c.n] = (uint16_t)(e - b);
                c.n++;
            }
        }
        if (c.n == 0) {
            break;
        }
        covered = input_pass(k[0], &c, BS4NN_NUM_LAYERS == 1);
        for (l = 1; l < BS4NN_NUM_LAYERS; l++) {
            covered = spike_pass(l, k[l], &c, l + 1 == BS4NN_NUM_LAYERS);
        }
        if (c.inc[BS4NN_NUM_LAYERS][covered - 1] != 0) {
            /* decision at chunk step d = covered - 1 */
            const uint32_t d = covered - 1u;
            for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
                uint32_t spikes = c.recv[l];
                for (s = 0; s <= d; s++) {
                    spikes += c.inc[l][s];
                }
                r->spikes[l] = (uint16_t)spikes;
            }
            r->spikes[BS4NN_NUM_LAYERS] = c.inc[BS4NN_NUM_LAYERS][d];
            r->decision_step = c.t[d];
            for (j = 0; j < BS4NN_N_OUTPUT; j++) {
                fired[j] = (uint8_t)((st->fired[out_off + j / 32u][d] >> (j % 32u)) & 1u);
                ones[j] = fired[j] ? output_ones(j) : 0;
                if (fired[j]) {
                    r->output_steps[j] = c.t[d];
                }
            }
            r->label = bs4nn_pick_label(ones, fired);
            return;
        }
        for (l = 0; l <= BS4NN_NUM_LAYERS; l++) {
            for (s = 0; s < c.n; s++) {
                c.recv[l] = (uint16_t)(c.recv[l] + c.inc[l][s]);
            }
        }
    }
    /* fallback: no output fired by t = 255; the largest count wins */
    for (l = 0; l < BS4NN_NUM_LAYERS; l++) {
        r->spikes[l] = c.recv[l];
    }
    r->decision_step = BS4NN_TMAX - 1;
    r->flags = BS4NN_FLAG_FALLBACK;
    for (j = 0; j < BS4NN_N_OUTPUT; j++) {
        ones[j] = output_ones(j);
    }
    r->label = bs4nn_pick_label(ones, 0);
}

#endif
