// Partial of gemv_q4.wgsl and gemv_q4_staged.wgsl: q4f32_1 decoding without shifts. Codes 0-3 of a word (and 4-7
// of w >> 16) in place: (w & 0xF·16^i) | 0x4B000000 is the f32 2^23 + c·16^i, and subtracting 2^23 + 7·16^i
// leaves (c - 7)·16^i exactly. x is pre-scaled by 16^-i (XSCALE, exact powers of two), so each product is
// (c - 7)·x with the same rounding as a plain dequantisation.
const NIB = vec4<u32>(0xFu, 0xF0u, 0xF00u, 0xF000u);
const BIAS7 = vec4<f32>(8388615.0, 8388720.0, 8390400.0, 8417280.0);
const XSCALE = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);
fn word_dot(w: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
  let lo = bitcast<vec4<f32>>((vec4<u32>(w) & NIB) | vec4<u32>(0x4B000000u)) - BIAS7;
  let hi = bitcast<vec4<f32>>((vec4<u32>(w >> 16u) & NIB) | vec4<u32>(0x4B000000u)) - BIAS7;
  return dot(lo, xa) + dot(hi, xb);
}
