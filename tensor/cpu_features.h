// What this CPU and kernel let the process use beyond the build's baseline (cpuid, checked at run time).
#pragma once

namespace slm {

// AMX tiles with bf16 products (Sapphire Rapids and later), and the Linux kernel granted this process the tile
// state (arch_prctl ARCH_REQ_XCOMP_PERM). Asked once; false on other CPUs, kernels and architectures.
bool amx_bf16_usable();

}  // namespace slm
