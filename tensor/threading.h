// Thread count of the CPU kernels: a thin wrapper over the OpenMP runtime that oneDNN shares.
// Not a thread pool and not per-call: the setting is process-wide.
#pragma once

namespace slm {

// n <= 0 restores the default (OMP_NUM_THREADS, else every core).
void set_num_threads(int n);
int num_threads();

}  // namespace slm
