#include "config/config.h"

#include <filesystem>

namespace psam::config {

void bind(Binder& b, RunOptions& c) {
  b.field("name", c.name, "run name; empty: the config file's name");
  b.field("out_dir", c.out_dir, "runs are written to out_dir/name");
  b.field("seed", c.seed, "seed for every random generator");
  b.field("threads", c.threads, "CPU threads for libtorch; 0 = OMP_NUM_THREADS if set, else every core");
  b.choice("device", c.device, "where to compute; auto = CUDA when present");
  b.choice("precision", c.precision,
           "bf16: bf16 autocast of the training loss (CPU with libtorch 2.x, CUDA); fp16: fp16 "
           "autocast with a dynamic gradient scaler (CUDA)");
}

void bind(Binder& b, dist::DistConfig& c) {
  b.choice("backend", c.backend, "auto = NCCL for CUDA when built with it, else Gloo");
  b.field("timeout_s", c.timeout_s, "rendezvous and collective timeout in seconds");
  b.field("master_addr", c.master_addr, "rendezvous host when MASTER_ADDR is not set (Slurm)");
  b.field("master_port", c.master_port, "rendezvous port when MASTER_PORT is not set; 0 = 29500");
  b.field("bucket_mb", c.bucket_mb, "gradient bucket size in MiB");
}

void bind(Binder& b, Config& c) {
  b.section("run", c.run, "run-level options");
  b.section("model", c.model, "model shape, latent nets and initial weights");
  b.section("data", c.data, "dataset store, splits and loader");
  b.section("loss", c.loss, "training loss");
  b.section("train", c.train, "optimiser, schedule, validation and checkpoints");
  b.section("eval", c.eval, "evaluation (psam eval, validation)");
  b.section("dist", c.dist, "data-parallel processes (launched by torchrun, srun or env vars)");
}

void make_paths_absolute(Config& c) {
  for (std::string* path : {&c.data.store, &c.model.init_from, &c.train.embedding_cache_dir})
    if (!path->empty()) *path = std::filesystem::absolute(*path).lexically_normal().string();
}

}  // namespace psam::config
