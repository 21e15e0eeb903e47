// Activations in f32, in torch's order of operations (tensor/ref/activation.h). tanh's argument is clamped
// to ±15, where tanh is ±1 in f32, because some drivers compute tanh as a quotient of exponentials that
// overflows to NaN.
fn tanh_safe(x: f32) -> f32 {
  return tanh(clamp(x, -15.0, 15.0));
}
{{#ACT_SILU}}
fn act(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}
{{/ACT_SILU}}
{{#ACT_GELU_TANH}}
fn act(x: f32) -> f32 {
  let cube = x * x * x;
  return 0.5 * x * (1.0 + tanh_safe(0.7978845834732056 * (x + 0.044715 * cube)));
}
{{/ACT_GELU_TANH}}
{{#ACT_GELU_ERF}}
// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); WGSL has no erf.
fn erf_approx(v: f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return sign(v) * y;
}
fn act(x: f32) -> f32 {
  return x * 0.5 * (1.0 + erf_approx(x * 0.7071067811865476));
}
{{/ACT_GELU_ERF}}
