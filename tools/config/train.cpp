// Bindings of the `train:` and `loss:` sections.
#include "psam/train/loss.h"
#include "psam/train/train_config.h"

#include "config/config.h"

namespace psam::config {

void bind(Binder& b, train::TrainConfig& c) {
  b.choice("optimizer", c.optimizer,
           "adam: weight decay as L2 on the gradient; adamw: decoupled weight decay; sgd: "
           "with momentum, weight decay as L2");
  b.field("lr", c.lr, "peak learning rate");
  b.field("weight_decay", c.weight_decay, "weight decay");
  b.field("betas", c.betas, "Adam's (beta1, beta2)");
  b.field("eps", c.eps, "Adam's epsilon");
  b.field("momentum", c.momentum, "SGD's momentum");
  b.field("lr_mult", c.lr_mult,
          "learning-rate multipliers by part, e.g. {image_encoder: 0.1, prior: 10}: a key is a "
          "run of state-dict name components; the longest matching key applies");
  b.field("layer_decay", c.layer_decay,
          "ViT encoder layer-wise lr decay: block i of D gets layer_decay^(D - i), the "
          "embeddings layer_decay^(D + 1); 1 = off");
  b.field("weight_decay_exempt", c.weight_decay_exempt,
          "no weight decay on norms, biases (1-D parameters), pos_embed and rel_pos tables");
  b.choice("schedule", c.schedule, "learning-rate schedule after the warm-up");
  b.field("warmup_steps", c.warmup_steps, "linear warm-up from 0 over this many steps");
  b.field("step_size", c.step_size, "step schedule: steps between decays");
  b.field("gamma", c.gamma, "step schedule: decay factor");
  b.field("min_lr", c.min_lr, "cosine schedule: the final learning rate");
  b.field("grad_clip", c.grad_clip, "max global gradient L2 norm; 0 = no clipping");
  b.field("accumulate_steps", c.accumulate_steps,
          "loader batches per optimiser step (gradient accumulation); steps, schedule and logs "
          "count optimiser steps");
  b.field("ema_decay", c.ema_decay,
          "exponential moving average of the weights after each step; 0 = off (e.g. 0.999)");
  b.field("activation_checkpointing", c.activation_checkpointing,
          "parts whose activations are recomputed in backward to save memory: image_encoder, "
          "mask_decoder, latent_nets");
  b.field("activation_checkpointing_stride", c.activation_checkpointing_stride,
          "image_encoder: checkpoint blocks i with i % stride == 0");
  b.field("ema_warmup", c.ema_warmup,
          "EMA decay min(ema_decay, (1 + t) / (10 + t)) at update t, so early weights fade");
  b.field("epochs", c.epochs, "passes over the training split");
  b.field("max_steps", c.max_steps, "stop after this many optimiser steps; 0 = by epochs");
  b.field("val_every_epochs", c.val_every_epochs, "validate every N epochs; 0 = never");
  b.field("val_metrics", c.val_metrics,
          "validation also computes the evaluator's metrics (val/ged, val/dsc, ...)");
  b.field("best_metric", c.best_metric, "validation metric that picks best.pt, e.g. val/loss");
  b.choice("best_mode", c.best_mode, "whether a lower or higher best_metric is better");
  b.field("early_stop_patience", c.early_stop_patience,
          "validations without improvement before stopping; 0 = off");
  b.field("log_every_steps", c.log_every_steps, "metrics.jsonl line every N steps");
  b.field("checkpoint_every_epochs", c.checkpoint_every_epochs,
          "epoch_NNN.pt every N epochs (last.pt every epoch)");
  b.field("checkpoint_every_steps", c.checkpoint_every_steps,
          "also write last.pt every N optimiser steps, inside epochs too; 0 = off");
  b.field("checkpoint_every_minutes", c.checkpoint_every_minutes,
          "also write last.pt when this many minutes have passed since the last; 0 = off");
  b.field("keep_epoch_checkpoints", c.keep_epoch_checkpoints,
          "newest epoch_NNN.pt files kept; 0 = none written");
  b.field("max_nonfinite_steps", c.max_nonfinite_steps,
          "more non-finite losses in a row stop the run");
  b.field("embedding_cache", c.embedding_cache, "cache image embeddings of a frozen encoder");
  b.field("embedding_cache_dir", c.embedding_cache_dir,
          "cache directory; empty: <run.out_dir>/.embedding_cache");
  b.field("tensorboard", c.tensorboard, "also write TensorBoard scalars to <run>/tb");
}

void bind(Binder& b, train::LossConfig& c) {
  b.field("bce_weight", c.bce_weight, "weight of the binary cross-entropy");
  b.choice("bce_reduction", c.bce_reduction,
           "mean: over pixels and batch (Probabilistic SAM); image_sum: summed over each image, "
           "mean over the batch (Kohl's Probabilistic U-Net); sum: over pixels and batch (Knegt)");
  b.field("dice_weight", c.dice_weight, "weight of the Dice loss");
  b.choice("dice_mode", c.dice_mode,
           "batch: one ratio over the batch (reference); per_sample: mean of per-sample ratios");
  b.field("dice_smooth", c.dice_smooth, "added to the Dice numerator and denominator");
  b.field("beta", c.beta,
          "KL weight after the warm-up; null (~): the per-image ELBO weight for bce_reduction "
          "(1/pixels for mean, 1 for image_sum, the batch size for sum)");
  b.field("kl_warmup_steps", c.kl_warmup_steps, "KL weight rises linearly from 0 over N steps");
  b.field("l2_weight", c.l2_weight,
          "weight of the sum of L2 norms of the latent nets' (and combiner's) parameters; "
          "0 = off (Knegt's Probabilistic U-Net: 1e-5)");
  b.choice("kl_control", c.kl_control,
           "none: the KL weight as set; geco: a Lagrange multiplier on the reconstruction "
           "target geco_kappa rescales it per step; free_bits: KL below free_bits nats per "
           "latent dimension costs nothing");
  b.field("free_bits", c.free_bits, "kl_control free_bits: floor in nats per latent dimension");
  b.field("geco_kappa", c.geco.kappa,
          "kl_control geco: target of bce_weight * BCE + dice_weight * Dice; about 0.9x what a "
          "run without KL control reaches");
  b.field("geco_alpha", c.geco.alpha, "kl_control geco: decay of the constraint's moving average");
  b.field("geco_speed", c.geco.speed,
          "kl_control geco: lambda <- lambda * exp(geco_speed * moving average of rec - kappa)");
  b.field("geco_lambda_min", c.geco.lambda_min, "kl_control geco: lambda's lower clamp (<= 1)");
  b.field("geco_lambda_max", c.geco.lambda_max, "kl_control geco: lambda's upper clamp (>= 1)");
  b.field("energy_weight", c.energy_weight,
          "weight of the energy score of prior samples against the batch's masks (trains the "
          "samples evaluation draws to spread as the raters do); 0 = off");
  b.field("energy_samples", c.energy_samples, "prior draws per image for the energy score (>= 2)");
}

}  // namespace psam::config
