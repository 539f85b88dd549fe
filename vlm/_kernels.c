/*
 * The compiled loops of InternVL tiling: the two separable passes of an 8-bit bicubic resize, with
 * caller-supplied integer coefficients, and normalisation into tiles.
 *
 * vlm/bicubic.py computes the coefficients exactly as Pillow does (22-bit fixed point, one row of
 * taps per output pixel) and these loops apply them with the same integer arithmetic, so the bytes
 * equal Pillow's. Integer sums do not depend on their order, which is what lets the loops run
 * across many pixels at once (SIMD) where Pillow walks pixel by pixel:
 *
 *   vertical:   each output row is a weighted sum of whole input rows, vectorised along the row;
 *   horizontal: ROWS input rows are interleaved into one scratch strip, so each tap multiplies
 *               ROWS x channels contiguous values at once.
 *
 * normalise() then scatters the resized pixels into float32 tiles through a lookup table that
 * vlm/preprocess.py builds with the reference's own float32 arithmetic (no floating point here).
 * Every entry point releases the GIL; callers split the work into bands of rows on threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS 22
#define ROWS 16   /* rows interleaved per horizontal strip */
#define CHUNK 2048 /* vertical-pass accumulator length (ints), kept in L1 */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HOT __attribute__((target_clones("avx2", "default")))
#else
#define HOT
#endif

static inline uint8_t clip8(int32_t value) {
    value >>= PRECISION_BITS; /* arithmetic shift: floor, as Pillow's lookup table index */
    return value < 0 ? 0 : (value > 255 ? 255 : (uint8_t)value);
}

HOT static void vertical_pass(const uint8_t *src, uint8_t *dst, Py_ssize_t row_len, Py_ssize_t out_rows,
                              const int32_t *bounds, const int32_t *coeffs, Py_ssize_t ksize) {
    int32_t acc[CHUNK];
    for (Py_ssize_t yy = 0; yy < out_rows; yy++) {
        const int32_t *k = coeffs + yy * ksize;
        const int32_t first = bounds[2 * yy], taps = bounds[2 * yy + 1];
        for (Py_ssize_t x0 = 0; x0 < row_len; x0 += CHUNK) {
            const Py_ssize_t n = row_len - x0 < CHUNK ? row_len - x0 : CHUNK;
            for (Py_ssize_t i = 0; i < n; i++) acc[i] = 1 << (PRECISION_BITS - 1);
            for (int32_t t = 0; t < taps; t++) {
                const uint8_t *row = src + (first + t) * row_len + x0;
                const int32_t c = k[t];
                for (Py_ssize_t i = 0; i < n; i++) acc[i] += (int32_t)row[i] * c;
            }
            uint8_t *out = dst + yy * row_len + x0;
            for (Py_ssize_t i = 0; i < n; i++) out[i] = clip8(acc[i]);
        }
    }
}

/* Interleave rows y0..y0+n of src: strip[x][j][ch] = src[y0 + j][x][ch]; lanes = ROWS * channels. */
static inline void interleave(const uint8_t *src, uint8_t *strip, Py_ssize_t n, Py_ssize_t in_w, Py_ssize_t channels) {
    const Py_ssize_t lanes = ROWS * channels;
    if (n < ROWS) memset(strip, 0, (size_t)(in_w * lanes));
    for (Py_ssize_t j = 0; j < n; j++) {
        const uint8_t *in = src + j * in_w * channels;
        uint8_t *out = strip + j * channels;
        for (Py_ssize_t x = 0; x < in_w; x++)
            for (Py_ssize_t ch = 0; ch < channels; ch++) out[x * lanes + ch] = in[x * channels + ch];
    }
}

/* One strip of n <= ROWS rows: each tap multiplies ROWS * channels contiguous values; results go to
   `clipped` in the strip's interleaved order (one contiguous vector store per output column). */
static inline void horizontal_strip(const uint8_t *strip, uint8_t *clipped, Py_ssize_t out_w, Py_ssize_t channels,
                                    const int32_t *bounds, const int32_t *coeffs, Py_ssize_t ksize) {
    const Py_ssize_t lanes = ROWS * channels;
    int32_t acc[ROWS * 4];
    for (Py_ssize_t xx = 0; xx < out_w; xx++) {
        const int32_t *k = coeffs + xx * ksize;
        const int32_t first = bounds[2 * xx], taps = bounds[2 * xx + 1];
        for (Py_ssize_t i = 0; i < lanes; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (int32_t t = 0; t < taps; t++) {
            const uint8_t *p = strip + (first + t) * lanes;
            const int32_t c = k[t];
            for (Py_ssize_t i = 0; i < lanes; i++) acc[i] += (int32_t)p[i] * c;
        }
        uint8_t *out = clipped + xx * lanes;
        for (Py_ssize_t i = 0; i < lanes; i++) out[i] = clip8(acc[i]);
    }
}

/* The inverse of interleave: rows y0..y0+n of dst from the strip's order. */
static inline void deinterleave(const uint8_t *clipped, uint8_t *dst, Py_ssize_t n, Py_ssize_t out_w, Py_ssize_t channels) {
    const Py_ssize_t lanes = ROWS * channels;
    for (Py_ssize_t j = 0; j < n; j++) {
        uint8_t *out = dst + j * out_w * channels;
        const uint8_t *in = clipped + j * channels;
        for (Py_ssize_t x = 0; x < out_w; x++)
            for (Py_ssize_t ch = 0; ch < channels; ch++) out[x * channels + ch] = in[x * lanes + ch];
    }
}

static inline void horizontal_pass(const uint8_t *src, uint8_t *dst, uint8_t *strip, Py_ssize_t rows,
                                   Py_ssize_t in_w, Py_ssize_t out_w, Py_ssize_t channels,
                                   const int32_t *bounds, const int32_t *coeffs, Py_ssize_t ksize) {
    uint8_t *clipped = strip + in_w * ROWS * channels; /* the second half of the scratch buffer */
    for (Py_ssize_t y0 = 0; y0 < rows; y0 += ROWS) {
        const Py_ssize_t n = rows - y0 < ROWS ? rows - y0 : ROWS;
        interleave(src + y0 * in_w * channels, strip, n, in_w, channels);
        horizontal_strip(strip, clipped, out_w, channels, bounds, coeffs, ksize);
        deinterleave(clipped, dst + y0 * out_w * channels, n, out_w, channels);
    }
}

/* The RGB case with the channel count known at compile time, so every inner loop has a fixed length
   and is vectorised (or unrolled); other channel counts take the generic loops. */
HOT static void horizontal_pass3(const uint8_t *src, uint8_t *dst, uint8_t *strip, Py_ssize_t rows,
                                 Py_ssize_t in_w, Py_ssize_t out_w, const int32_t *bounds, const int32_t *coeffs,
                                 Py_ssize_t ksize) {
    horizontal_pass(src, dst, strip, rows, in_w, out_w, 3, bounds, coeffs, ksize);
}

HOT static void horizontal_passn(const uint8_t *src, uint8_t *dst, uint8_t *strip, Py_ssize_t rows,
                                 Py_ssize_t in_w, Py_ssize_t out_w, Py_ssize_t channels, const int32_t *bounds,
                                 const int32_t *coeffs, Py_ssize_t ksize) {
    horizontal_pass(src, dst, strip, rows, in_w, out_w, channels, bounds, coeffs, ksize);
}

/* --- argument checking: every index the loops will use is checked here, so bad input raises --- */

typedef struct {
    Py_buffer src, dst, bounds, coeffs;
    int held;
} Buffers;

static void release(Buffers *b) {
    if (b->held > 0) PyBuffer_Release(&b->src);
    if (b->held > 1) PyBuffer_Release(&b->dst);
    if (b->held > 2) PyBuffer_Release(&b->bounds);
    if (b->held > 3) PyBuffer_Release(&b->coeffs);
    b->held = 0;
}

static int get(PyObject *obj, Py_buffer *view, int writable, const char *format, int ndim, const char *name) {
    int flags = PyBUF_ND | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->ndim != ndim || strcmp(view->format, format) != 0) {
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous %d-d array of format '%s'", name, ndim, format);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int get_all(PyObject *args, Buffers *b) {
    PyObject *src, *dst, *bounds, *coeffs;
    b->held = 0;
    if (!PyArg_ParseTuple(args, "OOOO", &src, &dst, &bounds, &coeffs)) return -1;
    if (get(src, &b->src, 0, "B", 3, "src") < 0) return -1;
    b->held = 1;
    if (get(dst, &b->dst, 1, "B", 3, "dst") < 0) goto fail;
    b->held = 2;
    if (get(bounds, &b->bounds, 0, "i", 2, "bounds") < 0) goto fail;
    b->held = 3;
    if (get(coeffs, &b->coeffs, 0, "i", 2, "coeffs") < 0) goto fail;
    b->held = 4;
    if (b->bounds.itemsize != 4 || b->coeffs.itemsize != 4) {
        PyErr_SetString(PyExc_ValueError, "bounds and coeffs must be int32");
        goto fail;
    }
    return 0;
fail:
    release(b);
    return -1;
}

/* Rows of `bounds` are (first, taps) over an input axis of `length`; one per output position. */
static int check_taps(Buffers *b, Py_ssize_t outputs, Py_ssize_t length) {
    const int32_t *bounds = (const int32_t *)b->bounds.buf;
    const Py_ssize_t ksize = b->coeffs.shape[1];
    if (b->bounds.shape[0] != outputs || b->bounds.shape[1] != 2 || b->coeffs.shape[0] != outputs || ksize < 1) {
        PyErr_Format(PyExc_ValueError, "bounds must be (%zd, 2) and coeffs (%zd, ksize)", outputs, outputs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < outputs; i++) {
        const int32_t first = bounds[2 * i], taps = bounds[2 * i + 1];
        if (first < 0 || taps < 0 || taps > ksize || (Py_ssize_t)first + taps > length) {
            PyErr_Format(PyExc_ValueError, "taps of output %zd (%d, %d) fall outside the %zd inputs", i, first, taps,
                         length);
            return -1;
        }
    }
    return 0;
}

/* Tiles: out[k][ch][ty][tx] = lut[ch][band[y][x][ch]] for every pixel of the band, where the band's
   top-left pixel is (x0, y0) of the resized image and tile k = (Y / size) * cols + X / size. */
HOT static void normalise_band(const uint8_t *band, Py_ssize_t h, Py_ssize_t w, Py_ssize_t channels, float *out,
                               Py_ssize_t size, Py_ssize_t cols, Py_ssize_t x0, Py_ssize_t y0, const float *lut) {
    const Py_ssize_t plane = size * size, tile = channels * plane;
    for (Py_ssize_t y = 0; y < h; y++) {
        const Py_ssize_t Y = y0 + y, row = Y / size, ty = Y % size;
        const uint8_t *in = band + y * w * channels;
        for (Py_ssize_t x = 0; x < w;) {
            const Py_ssize_t X = x0 + x, col = X / size, tx = X % size;
            const Py_ssize_t run = size - tx < w - x ? size - tx : w - x; /* pixels left in this tile's row */
            float *dst = out + (row * cols + col) * tile + ty * size + tx;
            for (Py_ssize_t ch = 0; ch < channels; ch++) {
                const float *table = lut + ch * 256;
                float *plane_row = dst + ch * plane;
                const uint8_t *src = in + x * channels + ch;
                for (Py_ssize_t i = 0; i < run; i++) plane_row[i] = table[src[i * channels]];
            }
            x += run;
        }
    }
}

static PyObject *normalise(PyObject *self, PyObject *args) {
    PyObject *band_obj, *out_obj, *lut_obj;
    Py_ssize_t x0, y0, cols;
    Py_buffer band, out, lut;
    if (!PyArg_ParseTuple(args, "OOOnnn", &band_obj, &out_obj, &lut_obj, &x0, &y0, &cols)) return NULL;
    if (get(band_obj, &band, 0, "B", 3, "band") < 0) return NULL;
    if (get(out_obj, &out, 1, "f", 4, "out") < 0) {
        PyBuffer_Release(&band);
        return NULL;
    }
    if (get(lut_obj, &lut, 0, "f", 2, "lut") < 0) {
        PyBuffer_Release(&band);
        PyBuffer_Release(&out);
        return NULL;
    }
    const Py_ssize_t h = band.shape[0], w = band.shape[1], channels = band.shape[2];
    const Py_ssize_t tiles = out.shape[0], size = out.shape[2];
    int ok = out.itemsize == 4 && lut.itemsize == 4 && out.shape[1] == channels && out.shape[3] == size &&
             size > 0 && lut.shape[0] == channels && lut.shape[1] == 256 && x0 >= 0 && y0 >= 0 && cols > 0 &&
             (h == 0 || w == 0 ||
              ((x0 + w - 1) / size < cols && ((y0 + h - 1) / size) * cols + (x0 + w - 1) / size < tiles));
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "normalise: the band, tiles and table do not fit together");
    } else {
        Py_BEGIN_ALLOW_THREADS
        normalise_band(band.buf, h, w, channels, out.buf, size, cols, x0, y0, lut.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&band);
    PyBuffer_Release(&out);
    PyBuffer_Release(&lut);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *vertical(PyObject *self, PyObject *args) {
    Buffers b;
    if (get_all(args, &b) < 0) return NULL;
    const Py_ssize_t *s = b.src.shape, *d = b.dst.shape;
    if (s[1] != d[1] || s[2] != d[2]) {
        PyErr_SetString(PyExc_ValueError, "vertical: src and dst must have the same width and channels");
        goto fail;
    }
    if (check_taps(&b, d[0], s[0]) < 0) goto fail;
    Py_BEGIN_ALLOW_THREADS
    vertical_pass(b.src.buf, b.dst.buf, s[1] * s[2], d[0], b.bounds.buf, b.coeffs.buf, b.coeffs.shape[1]);
    Py_END_ALLOW_THREADS
    release(&b);
    Py_RETURN_NONE;
fail:
    release(&b);
    return NULL;
}

static PyObject *horizontal(PyObject *self, PyObject *args) {
    Buffers b;
    if (get_all(args, &b) < 0) return NULL;
    const Py_ssize_t *s = b.src.shape, *d = b.dst.shape;
    if (s[0] != d[0] || s[2] != d[2] || s[2] < 1 || s[2] > 4) {
        PyErr_SetString(PyExc_ValueError, "horizontal: src and dst must have the same rows and 1-4 channels");
        goto fail;
    }
    if (check_taps(&b, d[1], s[1]) < 0) goto fail;
    uint8_t *strip = malloc((size_t)((s[1] + d[1]) * ROWS * s[2]) + 1);
    if (strip == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (s[2] == 3)
        horizontal_pass3(b.src.buf, b.dst.buf, strip, s[0], s[1], d[1], b.bounds.buf, b.coeffs.buf,
                         b.coeffs.shape[1]);
    else
        horizontal_passn(b.src.buf, b.dst.buf, strip, s[0], s[1], d[1], s[2], b.bounds.buf, b.coeffs.buf,
                         b.coeffs.shape[1]);
    Py_END_ALLOW_THREADS
    free(strip);
    release(&b);
    Py_RETURN_NONE;
fail:
    release(&b);
    return NULL;
}

static PyMethodDef methods[] = {
    {"vertical", vertical, METH_VARARGS,
     "vertical(src, dst, bounds, coeffs): dst[y] = clip(sum_t coeffs[y, t] * src[bounds[y, 0] + t]) for uint8 "
     "(rows, width, channels) arrays."},
    {"horizontal", horizontal, METH_VARARGS,
     "horizontal(src, dst, bounds, coeffs): the same along the width, row by row."},
    {"normalise", normalise, METH_VARARGS,
     "normalise(band, out, lut, x0, y0, cols): scatter a uint8 (h, w, c) band of the resized image, whose "
     "top-left is (x0, y0), into float32 (tiles, c, size, size) tiles through a (c, 256) lookup table."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "The compiled loops of InternVL tiling: Pillow-exact resize passes, normalisation.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
