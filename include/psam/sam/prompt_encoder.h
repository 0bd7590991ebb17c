// SAM's prompt encoder (official modeling/prompt_encoder.py): points and box corners become
// sparse tokens (random Fourier position encoding + learned type embeddings), a low-resolution
// mask becomes a dense embedding (or the learned no-mask embedding when none is given).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <vector>

namespace psam::sam {

// Position encoding with random spatial frequencies ("Fourier features").
class PositionEmbeddingRandomImpl : public torch::nn::Module {
 public:
  explicit PositionEmbeddingRandomImpl(int64_t num_pos_feats = 64, double scale = 1.0);
  // Dense encoding of an h x w grid of cell centres: [2*num_pos_feats, h, w].
  torch::Tensor forward(std::array<int64_t, 2> size) const;
  // coords [B,N,2] as (x, y) pixels of an image of image_size (h, w) -> [B,N,2*num_pos_feats].
  torch::Tensor forward_with_coords(const torch::Tensor& coords,
                                    std::array<int64_t, 2> image_size) const;

  torch::Tensor positional_encoding_gaussian_matrix;  // buffer [2, num_pos_feats]

 private:
  torch::Tensor pe_encoding(const torch::Tensor& coords) const;  // coords normalised to [0,1]
};
TORCH_MODULE(PositionEmbeddingRandom);

// Prompts for a batch of B masks; an undefined tensor means "not given". Coordinates are pixels
// of the model's input frame (after ResizeLongestSide), x before y.
struct PromptInputs {
  torch::Tensor point_coords;  // [B,N,2] float
  torch::Tensor point_labels;  // [B,N] integer: 1 foreground, 0 background, -1 padding
  torch::Tensor boxes;         // [B,4] float: x0, y0, x1, y1
  torch::Tensor masks;         // [B,1,4h,4w] low-resolution mask logits (h x w = embedding grid)
};

struct PromptEmbeddings {
  torch::Tensor sparse;  // [B, T, embed_dim]
  torch::Tensor dense;   // [B, embed_dim, h, w]
};

class PromptEncoderImpl : public torch::nn::Module {
 public:
  PromptEncoderImpl(int64_t embed_dim, std::array<int64_t, 2> image_embedding_size,
                    std::array<int64_t, 2> input_image_size, int64_t mask_in_chans);

  PromptEmbeddings forward(const PromptInputs& prompts);
  // The encoding of the image-embedding grid, [1, embed_dim, h, w].
  torch::Tensor get_dense_pe() const;

  int64_t embed_dim() const { return embed_dim_; }
  std::array<int64_t, 2> image_embedding_size() const { return image_embedding_size_; }
  std::array<int64_t, 2> input_image_size() const { return input_image_size_; }
  std::array<int64_t, 2> mask_input_size() const {
    return {4 * image_embedding_size_[0], 4 * image_embedding_size_[1]};
  }

  PositionEmbeddingRandom pe_layer{nullptr};
  // 0: background point, 1: foreground point, 2: box top-left, 3: box bottom-right.
  torch::nn::ModuleList point_embeddings{nullptr};
  torch::nn::Embedding not_a_point_embed{nullptr};
  torch::nn::Sequential mask_downscaling{nullptr};
  torch::nn::Embedding no_mask_embed{nullptr};

 private:
  torch::Tensor embed_points(const torch::Tensor& points, const torch::Tensor& labels, bool pad);
  torch::Tensor embed_boxes(const torch::Tensor& boxes);
  const torch::Tensor& point_weight(size_t i) const;

  int64_t embed_dim_;
  std::array<int64_t, 2> image_embedding_size_, input_image_size_;
  std::vector<torch::nn::Embedding> point_embedding_list_;  // typed view of point_embeddings
};
TORCH_MODULE(PromptEncoder);

}  // namespace psam::sam
