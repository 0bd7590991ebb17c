#pragma once

namespace psam {

// Sets libtorch's intra-op thread count; n <= 0 means every core of this machine. libtorch
// itself defaults to 1 thread on some machines, so every entry point calls this.
void set_num_threads(int n);

}  // namespace psam
