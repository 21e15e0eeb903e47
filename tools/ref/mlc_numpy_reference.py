#!/usr/bin/env python3
"""Independent numpy transcription of MLC-LLM's GroupQuantize._quantize (group_quantization.py) for the
q4 "NK" presets, used to pin the checksums in test_mlc_numpy_parity.cpp.

numpy float16 ufuncs round every operation to f16, like TVM's f16 arithmetic on LLVM; tir.max/tir.min are
select(a > b, a, b) / select(a < b, a, b) (NaN -> second operand), written with np.where. Run with Debian's
/usr/bin/python3 (python3-numpy); prints one FNV-1a checksum per (scheme, tie rule).
"""
import numpy as np

N, K, GS = 6, 70, 32


def weights():
    i = np.arange(N * K, dtype=np.uint64)
    w = (((i * np.uint64(2654435761)) % np.uint64(20011)).astype(np.int64) - 10005).astype(np.float32) / np.float32(1024)
    w = w.reshape(N, K)
    w[1] *= np.float32(2.0 ** -20)   # tiny values: f16 subnormals and scale underflow
    w[2, 32:64] = 0                  # an all-zero group
    w[3, ::7] = np.float32(7.0) * np.round(w[3, ::7] / np.float32(7.0) * 2) / 2  # some exact halves
    return w


def quantize(w32, dtype, ties_even):
    w = w32.astype(dtype)
    ng = (K + GS - 1) // GS
    words = np.zeros((N, ng * GS // 8), dtype=np.uint32)
    scales = np.zeros((N, ng), dtype=dtype)
    with np.errstate(all="ignore"):
        for n in range(N):
            for g in range(ng):
                grp = w[n, g * GS:min(K, (g + 1) * GS)]
                scale = np.max(np.abs(grp)) / dtype(7)
                scales[n, g] = scale
                y = grp / scale
                y = y + dtype(7)
                if ties_even:
                    r = np.rint(y).astype(np.float64)
                else:
                    y64 = y.astype(np.float64)
                    r = np.sign(y64) * np.floor(np.abs(y64) + 0.5)
                r = np.where(r > 0, r, 0.0)
                r = np.where(r < 14, r, 14.0)
                codes = r.astype(np.uint32)
                for j, c in enumerate(codes):
                    k = g * GS + j
                    words[n, k // 8] |= np.uint32(int(c) << (4 * (k % 8)))
    return words, scales


def fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


if __name__ == "__main__":
    w = weights()
    for name, dt in (("q4f16_1", np.float16), ("q4f32_1", np.float32)):
        for ties_even in (True, False):
            words, scales = quantize(w, dt, ties_even)
            h = fnv1a(words.astype("<u4").tobytes() + scales.tobytes())
            print(f"{name} {'even' if ties_even else 'away'} 0x{h:08X}")
