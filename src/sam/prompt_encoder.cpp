#include "psam/sam/prompt_encoder.h"

#include <cmath>

#include <fmt/ostream.h>
#include "psam/sam/common.h"

#include "psam/util/error.h"

namespace psam::sam {

PositionEmbeddingRandomImpl::PositionEmbeddingRandomImpl(int64_t num_pos_feats, double scale) {
  if (scale <= 0) scale = 1.0;
  positional_encoding_gaussian_matrix = register_buffer("positional_encoding_gaussian_matrix",
                                                        scale * torch::randn({2, num_pos_feats}));
}

torch::Tensor PositionEmbeddingRandomImpl::pe_encoding(const torch::Tensor& coords) const {
  auto c = 2 * coords - 1;  // [0,1] -> [-1,1]
  c = c.matmul(positional_encoding_gaussian_matrix);
  c = 2 * M_PI * c;
  return torch::cat({torch::sin(c), torch::cos(c)}, -1);
}

torch::Tensor PositionEmbeddingRandomImpl::forward(std::array<int64_t, 2> size) const {
  const auto [h, w] = size;
  const auto grid = torch::ones({h, w}, positional_encoding_gaussian_matrix.options());
  const auto y_embed = (grid.cumsum(0) - 0.5) / h;
  const auto x_embed = (grid.cumsum(1) - 0.5) / w;
  return pe_encoding(torch::stack({x_embed, y_embed}, -1)).permute({2, 0, 1});
}

torch::Tensor PositionEmbeddingRandomImpl::forward_with_coords(
    const torch::Tensor& coords, std::array<int64_t, 2> image_size) const {
  const auto x = coords.select(-1, 0) / image_size[1];
  const auto y = coords.select(-1, 1) / image_size[0];
  return pe_encoding(torch::stack({x, y}, -1).to(torch::kFloat));
}

PromptEncoderImpl::PromptEncoderImpl(int64_t embed_dim, std::array<int64_t, 2> image_embedding_size,
                                     std::array<int64_t, 2> input_image_size, int64_t mask_in_chans)
    : embed_dim_(embed_dim),
      image_embedding_size_(image_embedding_size),
      input_image_size_(input_image_size) {
  pe_layer = register_module("pe_layer", PositionEmbeddingRandom(embed_dim / 2));
  point_embeddings = register_module("point_embeddings", torch::nn::ModuleList());
  for (int i = 0; i < 4; ++i) {
    torch::nn::Embedding e(1, embed_dim);
    point_embeddings->push_back(e);
    point_embedding_list_.push_back(e);
  }
  not_a_point_embed = register_module("not_a_point_embed", torch::nn::Embedding(1, embed_dim));
  const int64_t quarter = mask_in_chans / 4;
  auto conv = [](int64_t in, int64_t out, int64_t k) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(k));
  };
  mask_downscaling = register_module(
      "mask_downscaling",
      torch::nn::Sequential(conv(1, quarter, 2), LayerNorm2d(quarter), torch::nn::GELU(),
                            conv(quarter, mask_in_chans, 2), LayerNorm2d(mask_in_chans),
                            torch::nn::GELU(), conv(mask_in_chans, embed_dim, 1)));
  no_mask_embed = register_module("no_mask_embed", torch::nn::Embedding(1, embed_dim));
}

torch::Tensor PromptEncoderImpl::get_dense_pe() const {
  return pe_layer->forward(image_embedding_size_).unsqueeze(0);
}

const torch::Tensor& PromptEncoderImpl::point_weight(size_t i) const {
  return point_embedding_list_[i]->weight;
}

torch::Tensor PromptEncoderImpl::embed_points(const torch::Tensor& points,
                                              const torch::Tensor& labels, bool pad) {
  auto coords = points + 0.5;  // to the pixel centre
  auto lab = labels;
  if (pad) {
    // Without a box, a padding point stands in for the missing corner tokens.
    const int64_t B = coords.size(0);
    coords = torch::cat({coords, torch::zeros({B, 1, 2}, coords.options())}, 1);
    lab = torch::cat({lab, torch::full({B, 1}, -1, lab.options())}, 1);
  }
  auto pe = pe_layer->forward_with_coords(coords, input_image_size_);
  lab = lab.unsqueeze(-1);
  pe = torch::where(lab == -1, not_a_point_embed->weight, pe);
  pe = torch::where(lab == 0, pe + point_weight(0), pe);
  return torch::where(lab == 1, pe + point_weight(1), pe);
}

torch::Tensor PromptEncoderImpl::embed_boxes(const torch::Tensor& boxes) {
  const auto coords = (boxes + 0.5).reshape({-1, 2, 2});
  const auto corners = pe_layer->forward_with_coords(coords, input_image_size_);
  return corners + torch::cat({point_weight(2), point_weight(3)}, 0);
}

PromptEmbeddings PromptEncoderImpl::forward(const PromptInputs& p) {
  PSAM_CHECK(p.point_coords.defined() == p.point_labels.defined(),
             "prompt encoder: point_coords and point_labels must be given together");
  int64_t bs = 1;
  if (p.point_coords.defined()) {
    PSAM_CHECK(p.point_coords.dim() == 3 && p.point_coords.size(2) == 2,
               fmt::format("prompt encoder: point_coords must be [B,N,2], got {}",
                           fmt::streamed(p.point_coords.sizes())));
    PSAM_CHECK(p.point_labels.sizes() == p.point_coords.sizes().slice(0, 2),
               fmt::format("prompt encoder: point_labels must be [B,N] = {}, got {}",
                           fmt::streamed(p.point_coords.sizes().slice(0, 2)),
                           fmt::streamed(p.point_labels.sizes())));
    bs = p.point_coords.size(0);
  } else if (p.boxes.defined()) {
    bs = p.boxes.size(0);
  } else if (p.masks.defined()) {
    bs = p.masks.size(0);
  }
  if (p.boxes.defined())
    PSAM_CHECK(p.boxes.dim() == 2 && p.boxes.size(0) == bs && p.boxes.size(1) == 4,
               fmt::format("prompt encoder: boxes must be [{},4], got {}", bs,
                           fmt::streamed(p.boxes.sizes())));
  const auto mask_size = mask_input_size();
  if (p.masks.defined())
    PSAM_CHECK(p.masks.dim() == 4 && p.masks.size(0) == bs && p.masks.size(1) == 1 &&
                   p.masks.size(2) == mask_size[0] && p.masks.size(3) == mask_size[1],
               fmt::format("prompt encoder: masks must be [{},1,{},{}], got {}", bs, mask_size[0],
                           mask_size[1], fmt::streamed(p.masks.sizes())));

  const auto& nap = not_a_point_embed->weight;
  auto sparse = torch::empty({bs, 0, embed_dim_}, nap.options());
  if (p.point_coords.defined())
    sparse =
        torch::cat({sparse, embed_points(p.point_coords, p.point_labels, !p.boxes.defined())}, 1);
  if (p.boxes.defined()) sparse = torch::cat({sparse, embed_boxes(p.boxes)}, 1);

  torch::Tensor dense;
  if (p.masks.defined()) {
    dense = mask_downscaling->forward(p.masks);
  } else {
    dense = no_mask_embed->weight.reshape({1, -1, 1, 1})
                .expand({bs, -1, image_embedding_size_[0], image_embedding_size_[1]});
  }
  return {sparse, dense};
}

}  // namespace psam::sam
