// RoPE's cos and sin for position pos and frequency i < HALF (partial of rope_kv.wgsl and attention_decode.wgsl;
// needs ROT and HALF, and the `rope` table binding unless ROPE_INLINE).
{{#ROPE_INLINE}}
const ATTN_SCALING: f32 = {{ATTN_SCALING}};
// inv_freq of this rope (tensor/rope.cpp rope_freqs), baked in.
var<private> INV_FREQ: array<f32, {{HALF}}> = array<f32, {{HALF}}>({{INV_FREQ}});

// cos and sin of a = f32(pos) * inv_freq (rounded once, as the CPU table), with a Cody–Waite reduction to
// [-pi, pi] (2pi split in three f32 parts, the first with 8 significant bits so k * C1 is exact) because
// WGSL only bounds cos/sin accuracy on [-pi, pi].
fn cos_sin(pos: u32, i: u32) -> vec2<f32> {
  let a = f32(pos) * INV_FREQ[i];
  let k = round(a * 0.15915494309189535);
  let r = ((a - k * 6.28125) - k * 0.0019353071693331003) - k * 1.0253376273e-11;
  return vec2<f32>(cos(r), sin(r)) * ATTN_SCALING;
}
{{/ROPE_INLINE}}
{{^ROPE_INLINE}}
// (cos, sin) from the table: row pos holds cos of the HALF frequencies, then their sin (rope_table's values,
// attention scaling included; the runtime fills it).
fn cos_sin(pos: u32, i: u32) -> vec2<f32> {
  return vec2<f32>(rope[pos * ROT + i], rope[pos * ROT + HALF + i]);
}
{{/ROPE_INLINE}}
