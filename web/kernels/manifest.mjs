// Reading slm's kernels.json (codegen/wgsl_emit.h): evaluating its size and grid expressions, turning a
// linear workgroup count into a dispatch, and packing a kernel's uniform struct. Shared by the node tests
// (tests/web/) and the browser runtime; no WebGPU calls here.

// Evaluates "ceil(T*64/8/256)", "T*6", 148 … with the run-time variables in `vars` (T, S, P, M).
// Grammar as wgsl_eval in codegen/wgsl_emit.cpp: + - * / (integer, floors), parentheses, ceil(a/b[/c…]).
export function evalExpr(expr, vars = {}) {
  if (typeof expr === 'number') return expr;
  const s = String(expr);
  let i = 0;
  const fail = (why) => { throw new Error(`kernels.json expression '${s}': ${why} at offset ${i}`); };
  const ws = () => { while (s[i] === ' ') i++; };
  const eat = (ch) => { ws(); if (s[i] === ch) { i++; return true; } return false; };
  const factor = () => {
    ws();
    if (eat('(')) { const v = expr_(); if (!eat(')')) fail("')' expected"); return v; }
    const num = /^[0-9]+/.exec(s.slice(i));
    if (num) { i += num[0].length; return Number(num[0]); }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (!id) fail('a number, a variable or ( expected');
    i += id[0].length;
    if (id[0] === 'ceil') {
      if (!eat('(')) fail("'(' expected after ceil");
      const a = product();
      if (!eat('/')) fail('ceil(a/b) expected');
      let d = product();
      while (eat('/')) d *= product();
      if (!eat(')')) fail("')' expected");
      if (d === 0) fail('division by zero');
      return Math.floor((a + d - 1) / d);
    }
    if (!(id[0] in vars)) fail(`unknown variable '${id[0]}'`);
    return vars[id[0]];
  };
  const product = () => { let v = factor(); while (eat('*')) v *= factor(); return v; };
  const term = () => {
    let v = factor();
    for (;;) {
      if (eat('*')) v *= factor();
      else if (eat('/')) { const d = factor(); if (d === 0) fail('division by zero'); v = Math.floor(v / d); }
      else return v;
    }
  };
  const expr_ = () => {
    let v = term();
    for (;;) {
      if (eat('+')) v += term();
      else if (eat('-')) v -= term();
      else return v;
    }
  };
  const v = expr_();
  ws();
  if (i !== s.length) fail('unexpected character');
  return v;
}

// A linear workgroup count as dispatchWorkgroups arguments (the kernels skip the surplus).
export function dispatchSize(n, maxPerDim = 65535) {
  if (n <= maxPerDim) return [n, 1, 1];
  return [maxPerDim, Math.ceil(n / maxPerDim), 1];
}

// The uniform struct of `kernel` (a kernels.json entry) with `values` {field: number}, as bytes.
export function packUniform(kernel, values) {
  const u = kernel.uniform;
  if (!u) return null;
  const buf = new ArrayBuffer(u.bytes);
  const dv = new DataView(buf);
  for (const f of u.fields) {
    if (!(f.name in values)) throw new Error(`${kernel.name}: uniform field '${f.name}' has no value`);
    if (f.type === 'f32') dv.setFloat32(f.offset, values[f.name], true);
    else if (f.type === 'u32') dv.setUint32(f.offset, values[f.name], true);
    else if (f.type === 'i32') dv.setInt32(f.offset, values[f.name], true);
    else throw new Error(`${kernel.name}: uniform field type ${f.type}`);
  }
  return new Uint8Array(buf);
}
