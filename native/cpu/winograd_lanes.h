/*
 * The Winograd kernel's tile transforms, written once for either vector width: winograd.c includes this file once per
 * width, with LANES (8 or 16 floats), VEC (the vector type), the V_* operations on it and LANES_NAME (a name's suffix
 * for the width) defined. The AVX-512 copy takes channels 16 at a time through the 512-bit instance (then any 8 left
 * through the 256-bit one), the AVX2 copy 8 at a time. Each lane's arithmetic is the same at either width, so both
 * give the same bits. It undefines those macros at its end, ready for the next width.
 */
/*
 * v = B' d B for F(2x2, 3x3), one slice of LANES channels of a 4x4 tile: d[i][j] read at src + i * rs + j * cs, v[p]
 * (p = 4 i + j) written at dst + p * ds. Read and written in place, so that only the column pass's results go through
 * the stack.
 */
TARGET INLINE void LANES_NAME(input_tile2)(const float *src, int64_t rs, int64_t cs, float *dst, int64_t ds) {
    VEC t[16];
    for (int j = 0; j < 4; j++) { /* B' d: down each column */
        VEC d0 = V_LOADU(src + j * cs), d1 = V_LOADU(src + rs + j * cs);
        VEC d2 = V_LOADU(src + 2 * rs + j * cs), d3 = V_LOADU(src + 3 * rs + j * cs);
        t[j] = V_SUB(d0, d2);
        t[4 + j] = V_ADD(d1, d2);
        t[8 + j] = V_SUB(d2, d1);
        t[12 + j] = V_SUB(d1, d3);
    }
    for (int i = 0; i < 4; i++) { /* (B' d) B: along each row */
        const VEC *r = t + 4 * i;
        float *out = dst + 4 * i * ds;
        V_STOREU(out, V_SUB(r[0], r[2]));
        V_STOREU(out + ds, V_ADD(r[1], r[2]));
        V_STOREU(out + 2 * ds, V_SUB(r[2], r[1]));
        V_STOREU(out + 3 * ds, V_SUB(r[1], r[3]));
    }
}

/*
 * B' x for F(4x4, 3x3) along one axis of 6 vectors, x[i * stride], into y[i * stride]. B' is
 *   4  0 -5  0  1  0 /  0 -4 -4  1  1  0 /  0  4 -4 -1  1  0 /
 *   0 -2 -1  2  1  0 /  0  2 -1 -2  1  0 /  0  4  0 -5  0  1
 */
TARGET INLINE void LANES_NAME(input_axis4)(const VEC *x, int stride, VEC *y) {
    const VEC four = V_SET1(4), five = V_SET1(5), two = V_SET1(2);
    VEC x0 = x[0], x1 = x[stride], x2 = x[2 * stride], x3 = x[3 * stride], x4 = x[4 * stride], x5 = x[5 * stride];
    VEC a = V_FNMADD(four, x2, x4); /* x4 - 4 x2 */
    VEC b = V_FNMADD(four, x1, x3); /* x3 - 4 x1 */
    VEC c = V_SUB(x4, x2);
    VEC d = V_MUL(two, V_SUB(x3, x1));
    y[0] = V_FNMADD(five, x2, V_FMADD(four, x0, x4));
    y[stride] = V_ADD(a, b);
    y[2 * stride] = V_SUB(a, b);
    y[3 * stride] = V_ADD(c, d);
    y[4 * stride] = V_SUB(c, d);
    y[5 * stride] = V_FNMADD(five, x3, V_FMADD(four, x1, x5));
}

/* v = B' d B for F(4x4, 3x3), one slice of LANES channels of a 6x6 tile, read and written in place as input_tile2. */
TARGET INLINE void LANES_NAME(input_tile4)(const float *src, int64_t rs, int64_t cs, float *dst, int64_t ds) {
    VEC t[36];
    for (int j = 0; j < 6; j++) { /* down each column */
        VEC x[6];
        for (int i = 0; i < 6; i++) {
            x[i] = V_LOADU(src + i * rs + j * cs);
        }
        LANES_NAME(input_axis4)(x, 1, x);
        for (int i = 0; i < 6; i++) {
            t[6 * i + j] = x[i];
        }
    }
    for (int i = 0; i < 6; i++) { /* along each row */
        VEC y[6];
        LANES_NAME(input_axis4)(t + 6 * i, 1, y);
        for (int j = 0; j < 6; j++) {
            V_STOREU(dst + (6 * i + j) * ds, y[j]);
        }
    }
}

/*
 * Channels c .. c+LANES-1 of one tile's V: the tile's inputs from image (its window's top-left at y0, x0; inside: the
 * window lies within the map), transformed into tile + c (positions C channels apart).
 */
TARGET INLINE void LANES_NAME(input_slice)(const problem *pb, const float *image, int y0, int x0, int inside, int c,
                                           float *tile, const int span) {
    const int c_in = pb->c;
    if (inside) {
        const float *corner = image + ((int64_t) y0 * pb->w + x0) * c_in + c;
        if (span == 4) {
            LANES_NAME(input_tile2)(corner, (int64_t) pb->w * c_in, c_in, tile + c, c_in);
        } else {
            LANES_NAME(input_tile4)(corner, (int64_t) pb->w * c_in, c_in, tile + c, c_in);
        }
        return;
    }
    /* a tile over the edge: its inputs gathered, zeros outside the map */
    float d[36 * LANES] __attribute__((aligned(64)));
    for (int i = 0; i < span; i++) {
        int yy = y0 + i;
        for (int j = 0; j < span; j++) {
            int xx = x0 + j;
            V_STOREU(d + (i * span + j) * LANES, yy >= 0 && xx >= 0 && yy < pb->h && xx < pb->w
                    ? V_LOADU(image + ((int64_t) yy * pb->w + xx) * c_in + c)
                    : V_ZERO());
        }
    }
    if (span == 4) {
        LANES_NAME(input_tile2)(d, 4 * LANES, LANES, tile + c, c_in);
    } else {
        LANES_NAME(input_tile4)(d, 6 * LANES, LANES, tile + c, c_in);
    }
}

/*
 * A' M A for F(2x2, 3x3): the 4x4 products M[p] read at q + p * qs (p = 4 i + j), y gets the 2x2 outputs, row-major.
 * Read in place, so that only the column pass's results go through the stack.
 */
TARGET INLINE void LANES_NAME(output_transform2)(const float *q, int64_t qs, VEC *y) {
    VEC s[8]; /* A' M: 2 rows of 4 */
    for (int j = 0; j < 4; j++) {
        VEC q0 = V_LOADU(q + j * qs), q1 = V_LOADU(q + (4 + j) * qs);
        VEC q2 = V_LOADU(q + (8 + j) * qs), q3 = V_LOADU(q + (12 + j) * qs);
        s[j] = V_ADD(V_ADD(q0, q1), q2);
        s[4 + j] = V_SUB(V_SUB(q1, q2), q3);
    }
    for (int i = 0; i < 2; i++) { /* (A' M) A */
        const VEC *r = s + 4 * i;
        y[2 * i] = V_ADD(V_ADD(r[0], r[1]), r[2]);
        y[2 * i + 1] = V_SUB(V_SUB(r[1], r[2]), r[3]);
    }
}

/*
 * A' x for F(4x4, 3x3) along one axis of 6 vectors, x[i * stride], into 4, y[i * stride]. A' is
 *   1  1  1  1  1  0 /  0  1 -1  2 -2  0 /  0  1  1  4  4  0 /  0  1 -1  8 -8  1
 */
TARGET INLINE void LANES_NAME(output_axis4)(const VEC *x, int stride, VEC *y) {
    VEC a = V_ADD(x[stride], x[2 * stride]), b = V_SUB(x[stride], x[2 * stride]);
    VEC c = V_ADD(x[3 * stride], x[4 * stride]), d = V_SUB(x[3 * stride], x[4 * stride]);
    y[0] = V_ADD(V_ADD(x[0], a), c);
    y[stride] = V_FMADD(V_SET1(2), d, b);
    y[2 * stride] = V_FMADD(V_SET1(4), c, a);
    y[3 * stride] = V_ADD(V_FMADD(V_SET1(8), d, b), x[5 * stride]);
}

/* A' M for F(4x4, 3x3), the column pass: the 6x6 products read at q + p * qs into s, 4 rows of 6. */
TARGET INLINE void LANES_NAME(output_columns4)(const float *q, int64_t qs, VEC *s) {
    for (int j = 0; j < 6; j++) {
        VEC x[6], r[4];
        for (int i = 0; i < 6; i++) {
            x[i] = V_LOADU(q + (6 * i + j) * qs);
        }
        LANES_NAME(output_axis4)(x, 1, r);
        for (int i = 0; i < 4; i++) {
            s[6 * i + j] = r[i];
        }
    }
}

/* A' M A for F(4x4, 3x3): the 6x6 products read at q + p * qs as output_transform2 does, y gets the 4x4 outputs. */
TARGET INLINE void LANES_NAME(output_transform4)(const float *q, int64_t qs, VEC *y) {
    VEC s[24]; /* A' M: 4 rows of 6 */
    LANES_NAME(output_columns4)(q, qs, s);
    for (int i = 0; i < 4; i++) {
        VEC r[4];
        LANES_NAME(output_axis4)(s + 6 * i, 1, r);
        for (int j = 0; j < 4; j++) {
            y[4 * i + j] = r[j];
        }
    }
}

/*
 * The tile's m x m outputs (out, before bias and activation) max-pooled 2x2 with stride 2 into y: tiles start at even
 * outputs, so each holds m/2 x m/2 whole windows; those past the pooled map (an odd map's last output, the outputs
 * past its edge) are not stored. Bias and activation come after the maximum: the same for each of its four values,
 * and an activation that never decreases commutes with it.
 */
TARGET INLINE void LANES_NAME(store_pooled)(const problem *pb, const cursor *tile, int k, const VEC *out,
                                            const int size, VEC b, VEC slope, VEC cap) {
    int py = tile->oy / 2, px = tile->ox / 2;
    int down = pb->ph - py < size / 2 ? pb->ph - py : size / 2;
    int across = pb->pw - px < size / 2 ? pb->pw - px : size / 2;
    for (int i = 0; i < down; i++) {
        for (int j = 0; j < across; j++) {
            const VEC *w = out + 2 * i * size + 2 * j;
            VEC a = V_ADD(V_MAX4(w[0], w[1], w[size], w[size + 1]), b);
            int64_t offset = ((tile->n * pb->ph + py + i) * pb->pw + px + j) * pb->k + k;
            V_STOREU(pb->y + offset, pb->rectify ? V_RECTIFY(a, slope, cap) : a);
        }
    }
}

/*
 * a activated: ACT_RELU is Keras' plain ReLU (slope 0, no cap) as rectify computes it, max(0, a) + 0: a NaN passes, and
 * -0 becomes +0 as there.
 */
TARGET INLINE VEC LANES_NAME(activate)(const int act, VEC a, VEC slope, VEC cap) {
    if (act == ACT_RELU) {
        VEC zero = V_ZERO();
        return V_ADD(V_MAX(zero, a), zero);
    }
    return act == ACT_GENERAL ? V_RECTIFY(a, slope, cap) : a;
}

/*
 * One output vector finished: plus bias and (with_residual) the residual at the same place, activated, stored; with
 * with_residual == RESIDUAL_GATED also a ReLU's gradient from pb->gate, its output (backward-data's sum of gradients
 * for a tensor a ReLU wrote): a * 0 where the gate is at most 0, else a (a NaN gate too), as oneDNN's ReLU backward.
 */
TARGET INLINE void LANES_NAME(store_output)(const problem *pb, int64_t offset, VEC a, VEC b, const int act,
                                            const int with_residual, VEC slope, VEC cap) {
    a = V_ADD(a, b);
    if (with_residual) {
        a = V_ADD(a, V_LOADU(pb->residual + offset));
    }
    if (with_residual == RESIDUAL_GATED) {
        a = V_GATE(V_LOADU(pb->gate + offset), a);
    }
    a = LANES_NAME(activate)(act, a, slope, cap);
    if (pb->stream) {
        V_STREAM(pb->y + offset, a);
    } else {
        V_STOREU(pb->y + offset, a);
    }
}

/*
 * A' M A for F(4x4, 3x3) on a tile whose 4x4 outputs all lie inside the map, each row of outputs finished and stored as
 * the row pass makes it (at = the tile's top-left output, this slice's channels), so no output waits on the stack.
 */
TARGET INLINE void LANES_NAME(output_tile4_stored)(const problem *pb, const float *q, int64_t qs, int64_t at,
                                                   VEC b, const int act, const int with_residual, VEC slope,
                                                   VEC cap) {
    VEC s[24]; /* A' M: 4 rows of 6 */
    LANES_NAME(output_columns4)(q, qs, s);
    for (int i = 0; i < 4; i++) {
        VEC r[4];
        LANES_NAME(output_axis4)(s + 6 * i, 1, r);
        for (int j = 0; j < 4; j++) {
            LANES_NAME(store_output)(pb, at + ((int64_t) i * pb->ow + j) * pb->k, r[j], b, act, with_residual, slope,
                                     cap);
        }
    }
}

/*
 * Output channels k .. k+LANES-1 of one tile: A' M A from the tile's products (tile_m), plus bias and residual,
 * activated, stored at the tile's outputs inside the map (down x across of them, the top-left at `at`), or max-pooled.
 */
TARGET INLINE void LANES_NAME(output_slice)(const problem *pb, const cursor *tile, const float *tile_m, int64_t at,
                                            int k, int down, int across, const int size, const int act,
                                            const int with_residual) {
    const int k_out = pb->k;
    const VEC slope = V_SET1(pb->slope), cap = V_SET1(pb->cap);
    if (size == 4 && down == 4 && across == 4 && pb->ph == 0) {
        VEC b = pb->bias != NULL ? V_LOADU(pb->bias + k) : V_ZERO();
        LANES_NAME(output_tile4_stored)(pb, tile_m + k, k_out, at + k, b, act, with_residual, slope, cap);
        return;
    }
    VEC out[16];
    const float *q = tile_m + k;
    if (size == 2) {
        LANES_NAME(output_transform2)(q, k_out, out);
    } else {
        LANES_NAME(output_transform4)(q, k_out, out);
    }
    VEC b = pb->bias != NULL ? V_LOADU(pb->bias + k) : V_ZERO();
    if (pb->ph > 0) {
        LANES_NAME(store_pooled)(pb, tile, k, out, size, b, slope, cap);
        return;
    }
    for (int i = 0; i < down; i++) {
        for (int j = 0; j < across; j++) {
            LANES_NAME(store_output)(pb, at + ((int64_t) i * pb->ow + j) * k_out + k, out[i * size + j], b, act,
                                     with_residual, slope, cap);
        }
    }
}

/* z = A y along one axis for the filter gradient: m vectors y[i * ys] into m + 2, z[i * zs] (A' is the output transform's). */
TARGET INLINE void LANES_NAME(gradient_axis)(const int m, const VEC *y, int ys, VEC *z, int zs) {
    if (m == 2) {
        z[0] = y[0];
        z[zs] = V_ADD(y[0], y[ys]);
        z[2 * zs] = V_SUB(y[0], y[ys]);
        z[3 * zs] = V_SUB(V_ZERO(), y[ys]);
    } else {
        VEC y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
        VEC a = V_ADD(y0, y2), b = V_ADD(y1, y3);
        VEC c = V_FMADD(V_SET1(4), y2, y0);
        VEC d = V_MUL(V_SET1(2), V_FMADD(V_SET1(4), y3, y1));
        z[0] = y0;
        z[zs] = V_ADD(a, b);
        z[2 * zs] = V_SUB(a, b);
        z[3 * zs] = V_ADD(c, d);
        z[4 * zs] = V_SUB(c, d);
        z[5 * zs] = y3;
    }
}

/*
 * Output-gradient channels k .. k+LANES-1 of one tile for the filter gradient: Z = A dY A' from the size x size output
 * gradients at `at` (zeros past the map's edge: down x across lie inside) into tile_z (positions K channels apart), and
 * their sum added to bias_sum where that is not null.
 */
TARGET INLINE void LANES_NAME(gradient_slice)(const problem *pb, int64_t at, int down, int across, const int span,
                                              int k, float *tile_z, float *bias_sum) {
    const int k_out = pb->k, size = span - 2;
    VEC g[16], t[24];
    VEC sum = V_ZERO();
    for (int i = 0; i < size; i++) {
        for (int j = 0; j < size; j++) {
            g[i * size + j] = i < down && j < across ? V_LOADU(pb->dy + at + ((int64_t) i * pb->ow + j) * k_out + k)
                                                     : V_ZERO();
            sum = V_ADD(sum, g[i * size + j]);
        }
    }
    for (int j = 0; j < size; j++) {
        LANES_NAME(gradient_axis)(size, g + j, size, t + j, size); /* A dY: down each column, span x size */
    }
    for (int i = 0; i < span; i++) {
        VEC r[6];
        LANES_NAME(gradient_axis)(size, t + size * i, 1, r, 1); /* (A dY) A': along each row, stored as it comes */
        for (int j = 0; j < span; j++) {
            V_STOREU(tile_z + (int64_t) (span * i + j) * k_out + k, r[j]);
        }
    }
    if (bias_sum != NULL) {
        V_STOREU(bias_sum + k, V_ADD(V_LOADU(bias_sum + k), sum));
    }
}

#undef LANES
#undef LANES_NAME
#undef VEC
#undef V_LOADU
#undef V_STOREU
#undef V_STREAM
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_FMADD
#undef V_FNMADD
#undef V_SET1
#undef V_ZERO
#undef V_MAX
#undef V_RECTIFY
#undef V_MAX4
#undef V_GATE
