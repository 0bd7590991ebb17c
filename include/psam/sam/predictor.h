// Image-then-prompts inference (official predictor.py SamPredictor): compute the image
// embedding once with set_image, then decode any number of prompts given in original-image
// pixel coordinates.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>

#include "psam/sam/sam.h"
#include "psam/geometry/resize_longest_side.h"

namespace psam::sam {

// Prompts in pixels of the original image; undefined tensors are "not given". A batch of B
// prompt sets shares the one image embedding; unbatched forms ([N,2], [N], [4], [1,h,w]) are
// taken as B = 1.
struct PointBoxPrompt {
  at::Tensor point_coords;  // [B,N,2] (x, y)
  at::Tensor point_labels;  // [B,N]: 1 foreground, 0 background
  at::Tensor box;           // [B,4] (x0, y0, x1, y1)
  at::Tensor mask_input;    // [B,1,4e,4e] low-res logits from an earlier prediction
};

struct SamPrediction {
  at::Tensor masks;            // bool [B,M,H,W] at the original size: logits > mask_threshold
  at::Tensor logits;           // float [B,M,H,W] at the original size
  at::Tensor iou_predictions;  // float [B,M]
  at::Tensor low_res_logits;   // float [B,M,4e,4e] (feed back as mask_input)
};

class SamPredictor {
 public:
  explicit SamPredictor(Sam model);

  // image: uint8 [H,W,3] RGB, or a floating [3,H,W] RGB in 0..255. Resized with
  // ResizeLongestSide (antialiased bilinear), normalised, padded, and encoded.
  void set_image(const at::Tensor& image);
  // image already resized so its long side is img_size: [1,3,h,w] in 0..255.
  void set_torch_image(const at::Tensor& transformed_image, std::array<int64_t, 2> original_size);

  // Prompts in original-image pixels (transformed here).
  SamPrediction predict(const PointBoxPrompt& prompt, bool multimask_output = true);
  // Prompts already in the resized frame, batched.
  SamPrediction predict_torch(const PromptInputs& prompt, bool multimask_output = true);

  bool is_image_set() const { return features_.defined(); }
  const at::Tensor& features() const;  // [1, C, e, e]
  std::array<int64_t, 2> original_size() const { return original_size_; }
  std::array<int64_t, 2> input_size() const { return input_size_; }
  const geometry::ResizeLongestSide& transform() const { return transform_; }
  Sam& model() { return model_; }
  void reset_image();

 private:
  Sam model_;
  geometry::ResizeLongestSide transform_;
  at::Tensor features_;
  std::array<int64_t, 2> original_size_{}, input_size_{};
};

}  // namespace psam::sam
