/* test_cuda_ops.cpp — every op of the CUDA backend against the CPU backend, on random data:
 * small shapes that are not multiples of any tile size, and sampled real Whisper shapes
 * (tiny to large-v3). Built twice: against the emulator (wxcuda_emu, CI) and against the
 * real device (wxcuda; skipped without one). Tolerances follow DESIGN.md, with the reason
 * next to each. */
#include <algorithm>

#include "cuda/cuda_test_util.h"

extern "C" {
#include "io/mel.h"
}

/* fp32 element-wise ops: same formula, different summation order or exp/erf/log
 * implementation (a few ulp) → |Δ| ≤ 1e-5 + 1e-5·|ref|. */
#define EW_ABS 1e-5
#define EW_REL 1e-5
/* GEMMs and attention: the policy's normalised MSE ≤ 5e-4. fp32 weights (as only PyanNet
 * and GE2E upload them) run in full fp32 (ops_vad.cu; test_cuda_vad holds them to 1e-10),
 * so the bound is loose for them; fp16 weights (the backend's weight dtype, as the models
 * load them) are fp16 compute with fp32 accumulation against the CPU's fp32: A and W each
 * rounded to 11 significant bits (relative error ≤ 2^-11 per operand), so the policy's
 * matmul bound. */
#define MATMUL_NMSE 5e-4

static void test_layer_norm(int64_t rows, int64_t d, bool in_place)
{
    tpair x = tp_make(randv(rows * d, 3.0f), {rows, d});
    tpair g = tp_make(randv(d), {d}), b = tp_make(randv(d), {d});
    tpair o = in_place ? x : tp_make({}, {rows, d});
    wx_op(cpu_be, layer_norm, o.c, x.c, g.c, b.c, 1e-5f);
    wx_op(cuda_be, layer_norm, o.g, x.g, g.g, b.g, 1e-5f);
    CHECK_MSG(all_close(fetch(cuda_be, o.g), fetch(cpu_be, o.c), EW_ABS, EW_REL, "layer_norm"),
              "layer_norm (%lld, %lld)", (long long)rows, (long long)d);
    if (!in_place) tp_free(o);
    tp_free(x), tp_free(g), tp_free(b);
}

/* In place over (b, c, t); offset shifts every value, so the mean is far from zero as after a
 * biased conv. */
static void test_instance_norm(int64_t nb, int64_t c, int64_t t, float offset)
{
    std::vector<float> h = randv(nb * c * t, 2.0f);
    for (float &v : h) v += offset;
    tpair x = tp_make(h, {nb, c, t});
    tpair g = tp_make(randv(c), {c}), b = tp_make(randv(c), {c});
    wx_op(cpu_be, instance_norm, x.c, g.c, b.c, 1e-5f);
    wx_op(cuda_be, instance_norm, x.g, g.g, b.g, 1e-5f);
    /* fp32 element-wise policy: the CPU sums in double, the kernel in float per thread then a
     * tree; over t ≤ 1e5 the mean's and variance's relative error stays ~1e-6, which (x −
     * mean) · rstd carries into the output at |Δ| ≲ 1e-6 · |offset| / std */
    CHECK_MSG(all_close(fetch(cuda_be, x.g), fetch(cpu_be, x.c), EW_ABS, EW_REL, "instance_norm"),
              "instance_norm (%lld, %lld, %lld) offset %g", (long long)nb, (long long)c,
              (long long)t, (double)offset);
    tp_free(x), tp_free(g), tp_free(b);
}

static void test_gelu_add(int64_t n, int64_t n_b)
{
    tpair x = tp_make(randv(n, 4.0f), {n});
    wx_op(cpu_be, gelu, x.c);
    wx_op(cuda_be, gelu, x.g);
    CHECK_MSG(all_close(fetch(cuda_be, x.g), fetch(cpu_be, x.c), EW_ABS, EW_REL, "gelu"),
              "gelu n=%lld", (long long)n);
    tpair b = tp_make(randv(n_b), {n_b}), o = tp_make({}, {n});
    wx_op(cpu_be, add, o.c, x.c, b.c);
    wx_op(cuda_be, add, o.g, x.g, b.g);
    wx_op(cpu_be, add, x.c, x.c, o.c); /* out aliasing a */
    wx_op(cuda_be, add, x.g, x.g, o.g);
    CHECK_MSG(all_close(fetch(cuda_be, x.g), fetch(cpu_be, x.c), EW_ABS, EW_REL, "add"),
              "add n=%lld n_b=%lld", (long long)n, (long long)n_b);
    tp_free(x), tp_free(b), tp_free(o);
}

static void test_transpose(int64_t nb, int64_t r, int64_t c)
{
    tpair x = tp_make(randv(nb * r * c), {nb, r, c}), o = tp_make({}, {nb, c, r});
    wx_op(cpu_be, transpose, o.c, x.c);
    wx_op(cuda_be, transpose, o.g, x.g);
    CHECK_MSG(fetch(cuda_be, o.g) == fetch(cpu_be, o.c), "transpose (%lld, %lld, %lld): exact",
              (long long)nb, (long long)r, (long long)c);
    tp_free(x), tp_free(o);
}

/* f16: w in each backend's weight dtype (CUDA fp16, CPU fp32), else fp32 on both. */
static void test_linear(int64_t m, int64_t k, int64_t n, bool bias, bool f16)
{
    std::vector<float> wh = randv(n * k, 0.1f);
    tpair a = tp_make(randv(m * k), {m, k});
    tpair w = f16 ? tp_weight(wh, {n, k}) : tp_make(wh, {n, k});
    tpair b = tp_make(randv(n), {n}), o = tp_make({}, {m, n});
    wx_op(cpu_be, linear, o.c, a.c, w.c, bias ? b.c : NULL);
    wx_op(cuda_be, linear, o.g, a.g, w.g, bias ? b.g : NULL);
    double e = nmse(fetch(cuda_be, o.g), fetch(cpu_be, o.c));
    CHECK_MSG(e <= MATMUL_NMSE, "linear (%lld, %lld) x (%lld) %s: nmse %.3g", (long long)m,
              (long long)k, (long long)n, f16 ? "fp16" : "fp32", e);
    printf("linear M=%lld K=%lld N=%lld %s weights: nmse %.2g\n", (long long)m, (long long)k,
           (long long)n, f16 ? "fp16" : "fp32", e);
    tp_free(a), tp_free(w), tp_free(b), tp_free(o);
}

static void test_conv1d(int64_t nb, int64_t cin, int64_t tin, int64_t cout, int64_t ks, int stride,
                        int pad, bool f16)
{
    int64_t tout = (tin + 2 * pad - ks) / stride + 1;
    std::vector<float> wh = randv(cout * cin * ks, 0.2f);
    tpair x = tp_make(randv(nb * cin * tin), {nb, cin, tin});
    tpair w = f16 ? tp_weight(wh, {cout, cin, ks}) : tp_make(wh, {cout, cin, ks});
    tpair b = tp_make(randv(cout), {cout}), o = tp_make({}, {nb, cout, tout});
    wx_op(cpu_be, conv1d, o.c, x.c, w.c, b.c, stride, pad);
    wx_op(cuda_be, conv1d, o.g, x.g, w.g, b.g, stride, pad);
    double e = nmse(fetch(cuda_be, o.g), fetch(cpu_be, o.c));
    CHECK_MSG(e <= MATMUL_NMSE, "conv1d (%lld, %lld, %lld) -> %lld k%lld s%d %s: nmse %.3g",
              (long long)nb, (long long)cin, (long long)tin, (long long)cout, (long long)ks,
              stride, f16 ? "fp16" : "fp32", e);
    printf("conv1d (%lld, %lld, %lld) -> %lld s%d %s weights: nmse %.2g\n", (long long)nb,
           (long long)cin, (long long)tin, (long long)cout, stride, f16 ? "fp16" : "fp32", e);
    tp_free(x), tp_free(w), tp_free(b), tp_free(o);
}

/* q, k, v as the model passes them: q a strided view into a fused buffer (row stride
 * q_stride), k/v strided views (kv_stride) into one (kb, tcap, kv_stride) buffer, fp32 (the
 * encoder's fused QKV) or kv16: the CUDA kv_dtype against the same values rounded on the
 * CPU (the decoder's caches and cross K/V). */
static void test_attention(int64_t nb, int64_t tq, int64_t kb, int64_t tcap, int64_t kv_len,
                           int64_t d, int n_head, int64_t q_stride, int64_t kv_stride,
                           bool causal, bool kv16 = false)
{
    tpair qbuf = tp_make(randv(nb * tq * q_stride), {nb * tq * q_stride});
    std::vector<float> kvh = randv(kb * tcap * kv_stride, 1.5f);
    tpair kvbuf = kv16 ? tp_kv(kvh, {kb * tcap * kv_stride}) : tp_make(kvh, {kb * tcap * kv_stride});
    tpair o = tp_make({}, {nb, tq, d});
    int64_t qs[3] = {nb, tq, d}, ks[3] = {kb, tcap, d};
    int64_t v_off = kv_stride >= 2 * d ? d : 0;
    wx_tensor qc = wx_tensor_view(qbuf.c, 0, 3, qs), qg = wx_tensor_view(qbuf.g, 0, 3, qs);
    wx_tensor kc = wx_tensor_view(kvbuf.c, 0, 3, ks), kg = wx_tensor_view(kvbuf.g, 0, 3, ks);
    wx_tensor vc = wx_tensor_view(kvbuf.c, v_off, 3, ks), vg = wx_tensor_view(kvbuf.g, v_off, 3, ks);
    wx_op(cpu_be, attention, o.c, &qc, q_stride, &kc, &vc, kv_stride, n_head, kv_len, causal);
    wx_op(cuda_be, attention, o.g, &qg, q_stride, &kg, &vg, kv_stride, n_head, kv_len, causal);
    double e = nmse(fetch(cuda_be, o.g), fetch(cpu_be, o.c));
    CHECK_MSG(e <= MATMUL_NMSE, "attention B=%lld Tq=%lld kv=%lld/%lld D=%lld H=%d causal=%d: "
              "nmse %.3g", (long long)nb, (long long)tq, (long long)kv_len, (long long)tcap,
              (long long)d, n_head, causal, e);
    printf("attention B=%lld/%lld Tq=%lld kv=%lld D=%lld H=%d%s%s: nmse %.2g\n", (long long)nb,
           (long long)kb, (long long)tq, (long long)kv_len, (long long)d, n_head,
           causal ? " causal" : "", kv16 ? " fp16 K/V" : "", e);
    tp_free(qbuf), tp_free(kvbuf), tp_free(o);
}

/* f16: the CUDA table in fp16 (the weight dtype), the CPU one holding the same values
 * rounded to fp16 on the host, so that both sums are of identical fp32 numbers: exact. */
static void test_embed(int64_t vocab, int64_t n_pos, int64_t nb, int64_t t, int64_t d,
                       int64_t offset, bool f16)
{
    std::vector<float> th = randv(vocab * d);
    if (f16)
        for (auto &x : th) x = round_f16(x);
    tpair table = f16 ? tp_weight(th, {vocab, d}) : tp_make(th, {vocab, d});
    tpair pos = tp_make(randv(n_pos * d), {n_pos, d}), o = tp_make({}, {nb, t, d});
    std::vector<int32_t> ids((size_t)(nb * t));
    for (auto &id : ids) id = irand((int)vocab);
    ids[0] = (int32_t)vocab - 1;
    wx_op(cpu_be, embed, o.c, ids.data(), table.c, pos.c, offset);
    wx_op(cuda_be, embed, o.g, ids.data(), table.g, pos.g, offset);
    CHECK_MSG(fetch(cuda_be, o.g) == fetch(cpu_be, o.c), "embed (%lld, %lld, %lld) %s: exact",
              (long long)nb, (long long)t, (long long)d, f16 ? "fp16" : "fp32");
    tp_free(table), tp_free(pos), tp_free(o);
}

/* upload_f32 into the CUDA weight dtype, read back through embed with zero positions:
 * every element must equal the host's fp16 rounding, ties to even included, across more
 * than one staging chunk of the fp16 conversion. */
static void test_upload_f16(int64_t rows, int64_t d)
{
    std::vector<float> h = randv(rows * d, 4.0f);
    h[0] = 1.0f + 0x1p-11f;          /* halfway: rounds down to 1 (even) */
    h[1] = 1.0f + 3 * 0x1p-11f;      /* halfway: rounds up to 1 + 2^-9 */
    h[2] = 3e-6f;                    /* an fp16 subnormal */
    tpair table = tp_weight(h, {rows, d});
    tpair pos = tp_make(std::vector<float>((size_t)d, 0.0f), {1, d}), o = tp_make({}, {rows, 1, d});
    std::vector<int32_t> ids((size_t)rows);
    for (int64_t i = 0; i < rows; i++) ids[(size_t)i] = (int32_t)i;
    wx_op(cuda_be, embed, o.g, ids.data(), table.g, pos.g, 0);
    std::vector<float> got = fetch(cuda_be, o.g);
    size_t bad = 0;
    for (size_t i = 0; i < h.size(); i++) bad += got[i] != round_f16(h[i]);
    CHECK_MSG(bad == 0, "upload_f32 to fp16 (%lld, %lld): %zu elements not the host's fp16 "
              "rounding", (long long)rows, (long long)d, bad);
    tp_free(table), tp_free(pos), tp_free(o);
}

/* The decoder's KV append: k_new is a strided view at column d of the fused QKV rows. With
 * kv16 the CUDA cache is fp16: every appended element must be the host's fp16 rounding of
 * the fp32 source (exact), and the untouched rows stay as they were. */
static void test_copy_rows(int64_t nb, int64_t tcap, int64_t d, int64_t n_tok, int64_t row0,
                           bool kv16)
{
    std::vector<float> ch = randv(nb * tcap * d);
    tpair cache = kv16 ? tp_kv(ch, {nb, tcap, d}) : tp_make(ch, {nb, tcap, d});
    std::vector<float> qh = randv(nb * n_tok * 3 * d);
    tpair qkv = tp_make(qh, {nb, n_tok, 3 * d});
    int64_t s[3] = {nb, n_tok, d};
    wx_tensor kc = wx_tensor_view(qkv.c, d, 3, s), kg = wx_tensor_view(qkv.g, d, 3, s);
    wx_op(cpu_be, copy_rows, cache.c, row0, &kc, 3 * d, n_tok);
    wx_op(cuda_be, copy_rows, cache.g, row0, &kg, 3 * d, n_tok);
    std::vector<float> want = fetch(cpu_be, cache.c);
    if (kv16)
        for (auto &x : want) x = round_f16(x);
    CHECK_MSG(fetch(cuda_be, cache.g) == want, "copy_rows B=%lld D=%lld%s: exact", (long long)nb,
              (long long)d, kv16 ? " into fp16" : "");
    tp_free(cache), tp_free(qkv);
}

static void test_reorder(int64_t nb, int64_t tcap, int64_t d, int64_t len,
                         std::vector<int32_t> map, bool kv16)
{
    std::vector<float> ch = randv(nb * tcap * d);
    tpair cache = kv16 ? tp_kv(ch, {nb, tcap, d}) : tp_make(ch, {nb, tcap, d});
    wx_op(cpu_be, reorder, cache.c, map.data(), len);
    wx_op(cuda_be, reorder, cache.g, map.data(), len);
    CHECK_MSG(fetch(cuda_be, cache.g) == fetch(cpu_be, cache.c), "reorder B=%lld len=%lld%s: "
              "exact", (long long)nb, (long long)len, kv16 ? " fp16" : "");
    tp_free(cache);
}

/* Top-k ids exact (policy: integer outputs), values and the rewritten row element-wise. */
static void test_topk(int64_t rows, int64_t vocab, int n_sup, bool log_softmax, int k,
                      float quantum)
{
    std::vector<float> h = randv(rows * vocab, 8.0f);
    if (quantum > 0) /* coarse values: many exact ties, resolved by the lower id */
        for (auto &x : h) x = floorf(x / quantum) * quantum;
    tpair x = tp_make(h, {rows, vocab});
    std::vector<int32_t> sup((size_t)n_sup);
    for (auto &id : sup) id = irand((int)vocab);
    std::vector<int32_t> ic((size_t)(rows * k) + 1), ig(ic.size());
    std::vector<float> vc(ic.size()), vg(ic.size());
    wx_op(cpu_be, suppress_logsoftmax_topk, x.c, sup.data(), n_sup, log_softmax, k, ic.data(), vc.data());
    wx_op(cuda_be, suppress_logsoftmax_topk, x.g, sup.data(), n_sup, log_softmax, k, ig.data(), vg.data());
    ic.pop_back(), ig.pop_back(), vc.pop_back(), vg.pop_back();
    CHECK_MSG(ic == ig, "top-k ids (%lld, %lld) k=%d: exact", (long long)rows, (long long)vocab, k);
    /* log-probs ≈ −20 after a Σexp over 51866 terms in another order: relative 1e-5. */
    CHECK(all_close(vg, vc, EW_ABS, EW_REL, "top-k values"));
    CHECK(all_close(fetch(cuda_be, x.g), fetch(cpu_be, x.c), EW_ABS, EW_REL, "log-softmax rows"));
    tp_free(x);
}

/* Word timing: the probabilities of n_sel heads written at head0 of a (B, H, Tq, F) tensor.
 * K in fp16 holds the same rounded values on both sides; scores differ only in summation
 * order (64-term dot products) → the fp32 element-wise bound. */
static void test_attention_probs(int64_t nb, int64_t tq, int64_t tk, int64_t nf, int64_t d,
                                 int n_head, int64_t q_stride, int64_t kv_stride, bool kv16)
{
    int n_sel = 3, head0 = 1, nh = 5;
    int32_t heads[3] = {0, n_head - 1, n_head / 2};
    std::vector<int32_t> frames((size_t)nb);
    for (int64_t b = 0; b < nb; b++) frames[(size_t)b] = (int32_t)(b == 0 ? nf : 1 + irand((int)nf));
    tpair qbuf = tp_make(randv(nb * tq * q_stride), {nb * tq * q_stride});
    std::vector<float> kh = randv(nb * tk * kv_stride, 1.5f);
    tpair kbuf = kv16 ? tp_kv(kh, {nb * tk * kv_stride}) : tp_make(kh, {nb * tk * kv_stride});
    tpair o = tp_make(std::vector<float>((size_t)(nb * nh * tq * nf), -1.0f), {nb, nh, tq, nf});
    int64_t qs[3] = {nb, tq, d}, ks[3] = {nb, tk, d};
    wx_tensor qc = wx_tensor_view(qbuf.c, 0, 3, qs), qg = wx_tensor_view(qbuf.g, 0, 3, qs);
    wx_tensor kc = wx_tensor_view(kbuf.c, 0, 3, ks), kg = wx_tensor_view(kbuf.g, 0, 3, ks);
    wx_op(cpu_be, attention_probs, o.c, head0, &qc, q_stride, &kc, kv_stride, n_head, heads,
          n_sel, frames.data());
    wx_op(cuda_be, attention_probs, o.g, head0, &qg, q_stride, &kg, kv_stride, n_head, heads,
          n_sel, frames.data());
    CHECK_MSG(all_close(fetch(cuda_be, o.g), fetch(cpu_be, o.c), EW_ABS, EW_REL, "attention_probs"),
              "attention_probs B=%lld Tq=%lld F=%lld D=%lld H=%d%s", (long long)nb, (long long)tq,
              (long long)nf, (long long)d, n_head, kv16 ? " fp16 K" : "");
    tp_free(qbuf), tp_free(kbuf), tp_free(o);
}

/* The DTW matrix from the same probabilities on both sides: standardisation in double,
 * medians of identical values, the head mean in the same order → the element-wise bound. */
static void test_alignment_matrix(int64_t nb, int64_t nh, int64_t tq, int64_t nf, int width)
{
    std::vector<int32_t> toks((size_t)nb), frames((size_t)nb);
    for (int64_t b = 0; b < nb; b++) {
        toks[(size_t)b] = (int32_t)(b == 0 ? tq : 1 + irand((int)tq));
        frames[(size_t)b] = (int32_t)(b == 0 ? nf : 1 + irand((int)nf));
    }
    std::vector<float> h = randv(nb * nh * tq * nf);
    for (int64_t i = 0; i < nf; i++) h[(size_t)i] = 0.25f; /* a constant column for b 0, head 0 */
    tpair p = tp_make(h, {nb, nh, tq, nf}), o = tp_make({}, {nb, tq, nf});
    wx_op(cpu_be, alignment_matrix, o.c, p.c, toks.data(), frames.data(), width);
    wx_op(cuda_be, alignment_matrix, o.g, p.g, toks.data(), frames.data(), width);
    CHECK_MSG(all_close(fetch(cuda_be, o.g), fetch(cpu_be, o.c), EW_ABS, EW_REL, "alignment_matrix"),
              "alignment_matrix B=%lld H=%lld Tq=%lld F=%lld w=%d", (long long)nb, (long long)nh,
              (long long)tq, (long long)nf, width);
    tp_free(p), tp_free(o);
}

/* Device log-mel against wx_mel_compute (FFT, polynomial log10): the DFT-as-GEMM sums in
 * another order, so values near the −8 floor differ most; normalised MSE ≤ 1e-5 and
 * |Δ| ≤ 2e-3 on values of magnitude ~1 (both measured ~1e-4 smaller). */
static void test_mel(int n_mels, size_t n)
{
    wx_err err;
    wx_mel *mel = NULL;
    CHECK(wx_mel_create(n_mels, &mel, &err) == WX_OK);
    if (!mel) return;
    std::vector<float> audio(n);
    for (size_t i = 0; i < n; i++)
        audio[i] = 0.3f * sinf(0.05f * (float)i) * sinf(0.0007f * (float)i) + 0.05f * frand();
    std::vector<float> ref((size_t)n_mels * WX_CHUNK_FRAMES);
    wx_mel_compute(mel, audio.data(), n, ref.data());
    tpair o = tp_make({}, {1, n_mels, WX_CHUNK_FRAMES});
    wx_op(cuda_be, log_mel, o.g, audio.data(), n, wx_mel_filters(mel), n_mels);
    std::vector<float> got = fetch(cuda_be, o.g);
    double e = nmse(got, ref);
    CHECK_MSG(e <= 1e-5, "log-mel %d mels, %zu samples: nmse %.3g", n_mels, n, e);
    CHECK(all_close(got, ref, 2e-3, 0, "log-mel"));
    printf("log-mel %d mels, %zu samples: nmse %.2g\n", n_mels, n, e);
    tp_free(o);
    wx_mel_free(mel);
}

int main(void)
{
    int rc = backends_open("test_cuda_ops");
    if (rc) return rc;
    /* WX_TEST_QUICK=1 (the GPU check's compute-sanitizer passes): the largest shapes are
     * skipped; every kernel and code path still runs. */
    bool quick = getenv("WX_TEST_QUICK") && strcmp(getenv("WX_TEST_QUICK"), "0") != 0;
    double t0 = wx_now();
    test_layer_norm(1, 1, false);
    test_layer_norm(3, 37, false);
    test_layer_norm(7, 384, true);
    if (!quick) test_layer_norm(1500, 1280, true); /* large-v3 encoder */
    test_instance_norm(1, 1, 1, 0.0f);          /* var 0: out = beta */
    test_instance_norm(2, 3, 7, 0.0f);
    test_instance_norm(3, 5, 1000, 3.0f);       /* rows longer than the block, mean 3 */
    test_instance_norm(1, 80, 3998, 0.0f);      /* PyanNet SincNet block 0 (5 s window) */
    if (!quick) test_instance_norm(1, 512, 48000, 0.5f); /* wav2vec2 conv 0, 15 s */
    test_gelu_add(1, 1);
    test_gelu_add(1001, 7);   /* b must divide a: 1001 = 7 · 143 */
    test_gelu_add(384 * 3000, 384 * 1500); /* tiny conv1 output; positions over a batch */
    test_transpose(1, 384, 1500);
    test_transpose(2, 33, 65);
    for (int f16 = 0; f16 <= 1; f16++) {
        test_linear(1, 1, 1, true, f16);
        test_linear(7, 33, 65, false, f16);
        test_linear(5, 384, 1152, true, f16);   /* tiny fused QKV, 5 beams */
        test_linear(2, 384, 51864, false, f16); /* tiny.en logits (the tied embedding) */
        test_linear(3, 1280, 5120, true, f16);  /* large-v3 FFN */
        test_conv1d(2, 13, 50, 17, 3, 2, 1, f16);
        test_conv1d(1, 80, 300, 384, 3, 1, 1, f16);
        test_conv1d(1, 384, 301, 384, 3, 2, 1, f16);
        test_conv1d(3, 7, 129, 100, 3, 1, 1, f16); /* Cin·K < 32, partial tiles on both axes */
    }
    test_linear(150, 384, 1536, true, true);    /* a tiny encoder FFN slice, fp16 */
    /* nb, tq, kb, tcap, kv_len, d, heads, q_stride, kv_stride, causal */
    test_attention(1, 1, 1, 1, 1, 16, 1, 16, 16, false);
    test_attention(2, 37, 2, 60, 53, 48, 3, 48, 48, false);     /* d_head 16 */
    test_attention(2, 37, 2, 60, 53, 48, 3, 144, 96, true);
    test_attention(1, 100, 1, 140, 130, 128, 2, 384, 384, true); /* multi-tile causal */
    if (!quick) test_attention(1, 1500, 1, 1500, 1500, 384, 6, 1152, 1152, false); /* tiny encoder */
    test_attention(2, 4, 2, 448, 4, 512, 8, 1536, 512, true);  /* base prompt */
    test_attention(5, 1, 5, 448, 448, 1280, 20, 3840, 1280, true); /* large-v3 step, full cache */
    if (!quick) test_attention(2, 5, 2, 1500, 1500, 768, 12, 768, 1536, false); /* small cross, 5 beams */
    if (!quick) test_attention(10, 1, 2, 1500, 1500, 1024, 16, 1024, 2048, false); /* grouped beams */
    /* fp16 K/V, as the decoder passes its caches and cross K/V on CUDA */
    test_attention(2, 37, 2, 60, 53, 48, 3, 144, 48, true, true);
    test_attention(5, 1, 5, 448, 448, 1280, 20, 3840, 1280, true, true); /* large-v3 step */
    test_attention(2, 4, 2, 448, 4, 512, 8, 1536, 512, true, true);      /* base prompt */
    if (!quick) test_attention(10, 1, 2, 1500, 1500, 1280, 20, 1280, 2560, false, true); /* large-v3 cross */
    for (int f16 = 0; f16 <= 1; f16++) {
        test_embed(100, 20, 1, 1, 16, 19, f16);
        test_embed(5000, 448, 5, 3, 384, 7, f16);
    }
    test_upload_f16(3, 7);
    if (!quick) test_upload_f16(4100, 1100); /* 4.5 M elements: two staging chunks */
    for (int kv16 = 0; kv16 <= 1; kv16++) {
        test_copy_rows(5, 448, 384, 3, 0, kv16);
        test_copy_rows(5, 448, 1280, 1, 447, kv16);
        test_copy_rows(3, 17, 33, 5, 9, kv16);
        test_reorder(6, 20, 16, 7, {1, 1, 0, 3, 5, 4}, kv16);
        test_reorder(6, 20, 16, 20, {2, 0, 1, 3, 4, 5}, kv16);
        test_reorder(5, 448, 384, 100, {0, 1, 2, 3, 4}, kv16);
        test_reorder(5, 30, 64, 0, {4, 3, 2, 1, 0}, kv16);
        test_reorder(7, 9, 13, 9, {6, 0, 1, 2, 3, 4, 5}, kv16); /* a full cycle */
    }
    test_topk(5, 51864, 90, true, 10, 0);
    test_topk(2, 51866, 0, true, 0, 0);
    test_topk(3, 100, 5, false, 64, 0);
    test_topk(4, 1000, 3, true, 7, 2.0f);
    test_topk(1, 37, 30, true, 5, 0);       /* most ids suppressed */
    test_mel(80, 176000);
    test_attention_probs(3, 7, 40, 33, 96, 4, 96, 192, false);
    test_attention_probs(2, 5, 1500, 1500, 384, 6, 384, 768, true);  /* tiny cross K/V, fp16 */
    test_alignment_matrix(3, 4, 9, 37, 7);
    test_alignment_matrix(2, 2, 5, 3, 7);                             /* frames ≤ width / 2 */
    test_alignment_matrix(1, 8, 30, 550, 1);
    if (!quick) test_mel(128, 480000);
    test_mel(80, 1000);
    printf("test_cuda_ops: %.1f s\n", wx_now() - t0);
    backends_close();
    return wx_test_finish("test_cuda_ops");
}
