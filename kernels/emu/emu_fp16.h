/* emu_fp16.h — the CUDA half-precision types (__half, half, __half2, half2) and their
 * conversions and arithmetic for the host emulator, bit-exact with the hardware's IEEE
 * binary16 round-to-nearest-even. Arithmetic is done in float and rounded once, which is
 * what the GPU's fp16 units return for add, sub, mul and fma of representable inputs. */
#ifndef WX_EMU_FP16_H
#define WX_EMU_FP16_H

#include <stdint.h>
#include <string.h>

#include "emu_types.h"

namespace wxemu {

inline float half_bits_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int shift = 0;
        while (!(man & 0x400u)) {
            man <<= 1;
            shift++;
        }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t float_to_half_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or nan (nan keeps a quiet payload bit) */
        return sign | (abs > 0x7f800000u ? (uint16_t)(0x7e00u | ((abs >> 13) & 0x3ffu))
                                         : (uint16_t)0x7c00u);
    if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return sign | 0x7c00u;
    if (abs < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (abs < 0x33000000u) return sign; /* < 2^-25 rounds to zero */
        uint32_t exp = abs >> 23;
        uint32_t man = (abs & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - exp; /* 14..24 */
        uint32_t half_man = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (half_man & 1u))) half_man++;
        return sign | (uint16_t)half_man;
    }
    uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u); /* round to nearest even */
    return sign | (uint16_t)((rounded - 0x38000000u) >> 13);
}

} /* namespace wxemu */

struct __half {
    uint16_t __x;
    __half() = default;
    __half(float f) : __x(wxemu::float_to_half_bits(f)) {}
    __half(double d) : __x(wxemu::float_to_half_bits((float)d)) {}
    __half(int i) : __x(wxemu::float_to_half_bits((float)i)) {}
    operator float() const { return wxemu::half_bits_to_float(__x); }
};
typedef __half half;

struct alignas(4) __half2 {
    __half x, y;
};
typedef __half2 half2;

inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return (float)h; }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u)
{
    __half h;
    h.__x = u;
    return h;
}
inline __half __int2half_rn(int i) { return __half((float)i); }

inline __half __hadd(__half a, __half b) { return __half((float)a + (float)b); }
inline __half __hsub(__half a, __half b) { return __half((float)a - (float)b); }
inline __half __hmul(__half a, __half b) { return __half((float)a * (float)b); }
inline __half __hdiv(__half a, __half b) { return __half((float)a / (float)b); }
inline __half __hfma(__half a, __half b, __half c)
{
    return __half((float)((double)(float)a * (float)b + (float)c));
}
inline __half __hneg(__half a) { return __ushort_as_half((unsigned short)(a.__x ^ 0x8000u)); }
inline __half __habs(__half a) { return __ushort_as_half((unsigned short)(a.__x & 0x7fffu)); }
inline __half __hmax(__half a, __half b) { return (float)a >= (float)b ? a : b; }
inline __half __hmin(__half a, __half b) { return (float)a <= (float)b ? a : b; }
inline bool __hisnan(__half a) { return (a.__x & 0x7fffu) > 0x7c00u; }
inline bool __hisinf(__half a) { return (a.__x & 0x7fffu) == 0x7c00u; }
inline bool __heq(__half a, __half b) { return (float)a == (float)b; }
inline bool __hlt(__half a, __half b) { return (float)a < (float)b; }
inline bool __hgt(__half a, __half b) { return (float)a > (float)b; }
inline bool __hle(__half a, __half b) { return (float)a <= (float)b; }
inline bool __hge(__half a, __half b) { return (float)a >= (float)b; }

inline __half operator+(__half a, __half b) { return __hadd(a, b); }
inline __half operator-(__half a, __half b) { return __hsub(a, b); }
inline __half operator*(__half a, __half b) { return __hmul(a, b); }
inline __half operator/(__half a, __half b) { return __hdiv(a, b); }
inline __half operator-(__half a) { return __hneg(a); }
inline __half &operator+=(__half &a, __half b) { return a = __hadd(a, b); }
inline __half &operator-=(__half &a, __half b) { return a = __hsub(a, b); }
inline __half &operator*=(__half &a, __half b) { return a = __hmul(a, b); }
inline __half &operator/=(__half &a, __half b) { return a = __hdiv(a, b); }

inline __half2 __halves2half2(__half lo, __half hi) { return __half2{lo, hi}; }
inline __half2 __half2half2(__half a) { return __half2{a, a}; }
inline __half2 __float2half2_rn(float f) { return __half2{__half(f), __half(f)}; }
inline __half2 __floats2half2_rn(float lo, float hi) { return __half2{__half(lo), __half(hi)}; }
inline __half __low2half(__half2 a) { return a.x; }
inline __half __high2half(__half2 a) { return a.y; }
inline float __low2float(__half2 a) { return (float)a.x; }
inline float __high2float(__half2 a) { return (float)a.y; }
inline float2 __half22float2(__half2 a) { return float2{(float)a.x, (float)a.y}; }
inline __half2 __float22half2_rn(float2 f) { return __half2{__half(f.x), __half(f.y)}; }
inline __half2 __hadd2(__half2 a, __half2 b) { return __half2{a.x + b.x, a.y + b.y}; }
inline __half2 __hsub2(__half2 a, __half2 b) { return __half2{a.x - b.x, a.y - b.y}; }
inline __half2 __hmul2(__half2 a, __half2 b) { return __half2{a.x * b.x, a.y * b.y}; }
inline __half2 __hfma2(__half2 a, __half2 b, __half2 c)
{
    return __half2{__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)};
}

#endif
