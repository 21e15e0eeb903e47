// WebGPU adapter detection and the choice between an export's builds (q4f16_1 needs the `shader-f16`
// feature; q4f32_1 runs everywhere). Messages say what is missing and what to do. No kernels here.
// Reference: WebLLM's detectGPUDevice / required_features check (../shared/docs/webllm-format.md §1 step 5).

export class GpuError extends Error {
  // code: 'no-webgpu' | 'no-adapter' | 'no-f16' | 'device'
  constructor(message, code) {
    super(message);
    this.name = 'GpuError';
    this.code = code;
  }
}

export const quantNeedsF16 = (q) => /f16/.test(q ?? '');

// The quantization named in a URL (…/Qwen2-q4f32_1/), for variants that do not state it.
export function quantFromUrl(url) {
  const m = /q\d+f(16|32)(_\d+)?/.exec(url ?? '');
  return m ? m[0] : null;
}

// -> {adapter, shaderF16, description, limits}. Throws GpuError when there is no usable adapter.
export async function detectGpu(gpu = globalThis.navigator?.gpu) {
  if (!gpu)
    throw new GpuError('This browser does not offer WebGPU (navigator.gpu is missing). Use a current Chrome or ' +
                       'Edge (113+), Safari 26 or Firefox 141+, on a page served from https or localhost; Chromium ' +
                       'on Linux needs --enable-unsafe-webgpu (and --enable-features=Vulkan).', 'no-webgpu');
  let adapter = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    adapter = null;
  }
  if (!adapter)
    throw new GpuError('WebGPU is present but offers no GPU adapter (the GPU or its driver is blocklisted, or ' +
                       'hardware acceleration is off). Check chrome://gpu, update the GPU driver, or try another ' +
                       'browser.', 'no-adapter');
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown GPU';
  return {
    adapter,
    shaderF16: adapter.features.has('shader-f16'),
    fallback: !!(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
    description,
    limits: adapter.limits,
  };
}

// variants: [{url, quantization?}]. With shader-f16, an f16 build is preferred (half the memory traffic
// of f32 activations); without, the first f32 build. Throws GpuError('no-f16') when only f16 builds exist
// and the adapter lacks shader-f16.
export function chooseVariant(variants, shaderF16, gpuDescription = 'this GPU') {
  if (!variants?.length) throw new GpuError('No model URL was given.', 'device');
  const vs = variants.map((v) => ({ ...v, quantization: v.quantization ?? quantFromUrl(v.url) }));
  if (shaderF16) return vs.find((v) => quantNeedsF16(v.quantization)) ?? vs[0];
  const f32 = vs.find((v) => !quantNeedsF16(v.quantization));
  if (f32) return f32;
  throw new GpuError(noF16Message(vs[0].quantization, gpuDescription), 'no-f16');
}

export const noF16Message = (quant, gpuDescription) =>
  `This model is a ${quant} build, which needs the WebGPU feature shader-f16; ${gpuDescription} in this ` +
  'browser does not offer it. Export a q4f32_1 build as well (slm export --quant q4f32_1) and list both: the page ' +
  'picks q4f32_1 automatically where shader-f16 is missing.';

// A device with shader-f16 when the build needs it and the adapter's largest buffer limits (weights of a
// few hundred MB sit in single storage buffers).
export async function requestDevice(adapter, { shaderF16 = false } = {}) {
  const want = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
                'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxStorageBuffersPerShaderStage'];
  const requiredLimits = {};
  for (const k of want) if (adapter.limits[k] !== undefined) requiredLimits[k] = adapter.limits[k];
  try {
    // subgroups when the adapter has it: the GEMVs' *_sg stand-ins reduce with it (web/runtime/model_gpu.mjs).
    const features = [...(shaderF16 ? ['shader-f16'] : []), ...(adapter.features.has('subgroups') ? ['subgroups'] : [])];
    return await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  } catch (e) {
    throw new GpuError(`Creating the WebGPU device failed (${e.message}) — close other GPU-heavy tabs and reload.`, 'device');
  }
}
