#include "psam/models/model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "psam/prob/latent_net.h"
#include "psam/sam/image_encoder.h"
#include "psam/sam/transformer.h"
#include "psam/util/error.h"

namespace psam::models {

c10::Device Model::device() {
  for (const auto& p : module().parameters()) return p.device();
  for (const auto& b : module().buffers()) return b.device();
  return c10::Device(c10::kCPU);
}

at::Tensor Model::case_embedding(const std::function<at::Tensor()>& compute) {
  if (!in_case_) return compute();
  if (!case_embedding_.defined()) case_embedding_ = compute();
  return case_embedding_;
}

void Model::set_activation_checkpointing(const ActivationCheckpointing& parts) {
  int64_t encoders = 0, decoders = 0, latent_nets = 0;
  for (const auto& m : module().modules(/*include_self=*/true)) {
    if (auto* encoder = dynamic_cast<sam::ImageEncoderViTImpl*>(m.get())) {
      encoder->set_activation_checkpointing(parts.image_encoder_stride);
      ++encoders;
    } else if (auto* transformer = dynamic_cast<sam::TwoWayTransformerImpl*>(m.get())) {
      transformer->set_activation_checkpointing(parts.mask_decoder);
      ++decoders;
    } else if (auto* net = dynamic_cast<prob::LatentNetImpl*>(m.get())) {
      net->set_activation_checkpointing(parts.latent_nets);
      ++latent_nets;
    }
  }
  const auto lacks = [&](const char* part) {
    return fmt::format("train.activation_checkpointing: model.kind {} has no {}", kind(), part);
  };
  PSAM_CHECK(parts.image_encoder_stride == 0 || encoders > 0, lacks("image_encoder"));
  PSAM_CHECK(!parts.mask_decoder || decoders > 0, lacks("mask_decoder"));
  PSAM_CHECK(!parts.latent_nets || latent_nets > 0, lacks("latent_nets (prior and posterior)"));
}

NamedParameters Model::trainable_parameters() {
  NamedParameters out;
  for (const auto& item : module().named_parameters(/*recurse=*/true)) {
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  }
  return out;
}

}  // namespace psam::models
