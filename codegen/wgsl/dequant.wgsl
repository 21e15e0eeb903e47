// MLC's q4 dequantisation (_dequantize): value = (code - 7) * scale in the scale's dtype, code = bits
// [4r, 4r+4) of the word. The f16 product is rounded to f16 as MLC's kernel does.
fn dq(word: u32, r: u32, s: {{ST}}) -> f32 {
{{#F16}}
  return f32((f16((word >> (4u * r)) & 15u) - 7.0h) * s);
{{/F16}}
{{^F16}}
  return (f32((word >> (4u * r)) & 15u) - 7.0) * s;
{{/F16}}
}
fn dq4(word: u32, r0: u32, s: {{ST}}) -> vec4<f32> {
  return vec4<f32>(dq(word, r0, s), dq(word, r0 + 1u, s), dq(word, r0 + 2u, s), dq(word, r0 + 3u, s));
}
