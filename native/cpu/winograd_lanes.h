/*
 * The Winograd kernel's vector code that runs at either width: winograd.c includes this file once per width, with
 * LANES (8 or 16 floats), VEC (the vector type), the V_* operations on it and LANES_NAME (a name's suffix for the
 * width) defined; the AVX-512 copy takes channels 16 at a time through the 512-bit instance and the AVX2 copy 8 at a
 * time. Each lane's arithmetic is the same at either width, so both give the same bits.
 */
/*
 * v = B' d B for F(2x2, 3x3), one slice of LANES channels of a 4x4 tile: d[i][j] read at src + i * rs + j * cs, v[p] (p = 4 i +
 * j) written at dst + p * ds. Read and written in place, so that only the column pass's results go through the stack.
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
 *   4  0 -5  0  1  0 /  0 -4 -4  1  1  0 /  0  4 -4 -1  1  0 /  0 -2 -1  2  1  0 /  0  2 -1 -2  1  0 /  0  4  0 -5  0  1
 */
TARGET INLINE void LANES_NAME(input_axis4)(const VEC *x, int stride, VEC *y) {
    const VEC four = V_SET1(4), five = V_SET1(5), two = V_SET1(2);
    VEC x0 = x[0], x1 = x[stride], x2 = x[2 * stride], x3 = x[3 * stride], x4 = x[4 * stride], x5 = x[5 * stride];
    VEC a = V_FNMADD(four, x2, x4);             /* x4 - 4 x2 */
    VEC b = V_FNMADD(four, x1, x3);             /* x3 - 4 x1 */
    VEC c = V_SUB(x4, x2);
    VEC d = V_MUL(two, V_SUB(x3, x1));
    y[0] = V_FNMADD(five, x2, V_FMADD(four, x0, x4));
    y[stride] = V_ADD(a, b);
    y[2 * stride] = V_SUB(a, b);
    y[3 * stride] = V_ADD(c, d);
    y[4 * stride] = V_SUB(c, d);
    y[5 * stride] = V_FNMADD(five, x3, V_FMADD(four, x1, x5));
}

/* v = B' d B for F(4x4, 3x3), one slice of LANES channels of a 6x6 tile, read and written in place as input_tile2 does. */
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
