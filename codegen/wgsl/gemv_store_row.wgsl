// Partial of gemv_q4.wgsl and gemv_q4_staged.wgsl: a finished row's epilogue and store. sum = the row's dot
// product, up = its up row's (GATED), rms = 1 / rms(x) (NORM_IN); the others ignore what their flags leave unused.
{{#SOFTCAP}}
fn tanh_cap(x: f32) -> f32 {
  return tanh(clamp(x, -15.0, 15.0));
}
{{/SOFTCAP}}
fn store_row(row: u32, sum: f32, up: f32, rms: f32) {
  var v = sum;
{{#NORM_IN}}
  v = v * rms;
{{/NORM_IN}}
{{#BIAS}}
  v = v + f32(bias[row]);
{{/BIAS}}
{{#GATED}}
{{#NORM_IN}}
  v = act(v) * (up * rms);
{{/NORM_IN}}
{{^NORM_IN}}
  v = act(v) * up;
{{/NORM_IN}}
{{/GATED}}
{{#SOFTCAP}}
  v = tanh_cap(v / CAP) * CAP;
{{/SOFTCAP}}
{{#ACCUMULATE}}
  y[OUT_OFFSET + row] = y[OUT_OFFSET + row] + v;
{{/ACCUMULATE}}
{{^ACCUMULATE}}
  y[OUT_OFFSET + row] = v;
{{/ACCUMULATE}}
}
