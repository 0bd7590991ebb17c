#pragma once

namespace psam {

// Sets libtorch's intra-op thread count; n <= 0 means OMP_NUM_THREADS where it is set to a
// positive integer (as Slurm, torchrun and PyTorch use it), else every core of this machine.
// libtorch itself defaults to 1 thread on some machines, so every entry point calls this.
void set_num_threads(int n);

}  // namespace psam
