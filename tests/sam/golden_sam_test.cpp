// Parity with the official segment_anything modules: every encoder.*, prompt.*, decoder.* and
// sam.* output of the golden set (../shared/golden/README.md), computed by psam from the same
// inputs and weights. Built from config_<name>.json, so any golden set of that schema works.
#include <gtest/gtest.h>

#include <set>

#include "psam/io/pth.h"
#include "psam/io/state_dict.h"
#include "psam/sam/predictor.h"
#include "psam/sam/sam.h"
#include "psam/sam/config_json.h"
#include "support/attention_paths.h"
#include "support/golden.h"

namespace psam {
namespace {

using sam::EmbeddingBatching;

class GoldenSam : public support::AttentionPathTest {
 protected:
  void SetUp() override {
    use_attention_path();
    std::string why;
    const auto set = support::find_golden_set(&why);
    if (!set) GTEST_SKIP() << why;
    io_path_ = set->file("io", ".pth");
    const auto weights = set->file("sam", ".pth");
    model_ = sam::build_sam(sam::read_sam_config_json(set->file("config", ".json")));
    io::load_state_dict(*model_, io::read_tensors(weights), "", weights);
    model_->eval();
    ref_ = io::read_tensors(io_path_);
  }

  const at::Tensor& ref(const std::string& key) const { return ref_.at(key, io_path_); }
  bool has(const std::string& key) const { return ref_.contains(key); }

  // The prompt-encoder inputs stored under prefix (".coords"/".labels", ".boxes", ".masks").
  sam::PromptInputs prompt_inputs(const std::string& prefix, bool with_boxes) const {
    sam::PromptInputs in;
    if (has(prefix + ".coords")) {
      in.point_coords = ref(prefix + ".coords");
      in.point_labels = ref(prefix + ".labels");
    }
    if (with_boxes) in.boxes = ref("prompt.boxes.boxes");
    if (has(prefix + ".masks")) in.masks = ref(prefix + ".masks");
    return in;
  }

  void check_prompt(const std::string& prefix, bool with_boxes) {
    torch::NoGradGuard no_grad;
    const auto out = model_->prompt_encoder(prompt_inputs(prefix, with_boxes));
    EXPECT_TRUE(support::tensors_close(prefix + ".sparse", out.sparse, ref(prefix + ".sparse")));
    EXPECT_TRUE(support::tensors_close(prefix + ".dense", out.dense, ref(prefix + ".dense")));
  }

  // decoder.<kind>.*: the first image embedding shared by the prompts of prompt.mixed.*.
  void check_decoder(const std::string& kind, bool multimask) {
    torch::NoGradGuard no_grad;
    const auto out = model_->mask_decoder(
        ref("encoder.output").slice(0, 0, 1), ref("prompt.dense_pe"), ref("prompt.mixed.sparse"),
        ref("prompt.mixed.dense"), multimask, EmbeddingBatching::kShared);
    EXPECT_TRUE(support::tensors_close("decoder." + kind + ".masks", out.masks,
                                    ref("decoder." + kind + ".masks")));
    EXPECT_TRUE(support::tensors_close("decoder." + kind + ".iou", out.iou_pred,
                                    ref("decoder." + kind + ".iou")));
  }

  sam::Sam model_{nullptr};
  io::TensorDict ref_;
  std::string io_path_;
};

TEST_P(GoldenSam, ImageEncoder) {
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(support::tensors_close("encoder.output", model_->image_encoder(ref("encoder.input")),
                                  ref("encoder.output")));
  // Small attention-chunk bounds split heads and query rows into several chunks.
  for (int64_t budget : {100, 2000}) {
    model_->image_encoder->set_attention_chunk_elements(budget);
    EXPECT_TRUE(support::tensors_close("encoder.output, attention chunks of " + std::to_string(budget),
                                    model_->image_encoder(ref("encoder.input")),
                                    ref("encoder.output")));
  }
}

TEST_P(GoldenSam, DensePositionalEncoding) {
  EXPECT_TRUE(support::tensors_close("prompt.dense_pe", model_->prompt_encoder->get_dense_pe(),
                                  ref("prompt.dense_pe")));
}

TEST_P(GoldenSam, PromptPointsOnly) { check_prompt("prompt.points", /*with_boxes=*/false); }
TEST_P(GoldenSam, PromptBoxesOnly) { check_prompt("prompt.boxes", /*with_boxes=*/true); }
TEST_P(GoldenSam, PromptPointsBoxesAndMask) { check_prompt("prompt.mixed", /*with_boxes=*/true); }
TEST_P(GoldenSam, DecoderMultimask) { check_decoder("multi", true); }
TEST_P(GoldenSam, DecoderSingleMask) { check_decoder("single", false); }

TEST_P(GoldenSam, ResizeLongestSide) {
  const auto& raw = ref("sam.raw_image");
  const std::array<int64_t, 2> original{raw.size(1), raw.size(2)};
  const geometry::ResizeLongestSide t(model_->img_size());
  EXPECT_TRUE(support::tensors_close("sam.resized_image", t.apply_image(raw.unsqueeze(0)).squeeze(0),
                                  ref("sam.resized_image")));
  if (has("sam.orig_points")) {
    EXPECT_TRUE(support::tensors_close("sam.points", t.apply_coords(ref("sam.orig_points"), original),
                                    ref("sam.points")));
  }
  if (has("sam.orig_box")) {
    EXPECT_TRUE(support::tensors_close("sam.boxes", t.apply_boxes(ref("sam.orig_box"), original),
                                    ref("sam.boxes")));
  }
}

// The whole model as SamPredictor runs it: raw image -> resize -> normalise/pad -> encoder;
// prompts in original pixels -> transformed -> prompt encoder -> decoder -> upscaled masks.
TEST_P(GoldenSam, Predictor) {
  sam::SamPredictor predictor(model_);
  predictor.set_image(ref("sam.raw_image"));
  sam::PointBoxPrompt prompt;
  if (has("sam.orig_points")) {
    prompt.point_coords = ref("sam.orig_points");
    if (has("sam.labels")) {
      prompt.point_labels = ref("sam.labels");
    } else {
      // The set stores no labels: the documented ones are 1, 0 (foreground, background),
      // continued alternately for longer point lists.
      const auto n = prompt.point_coords.size(1);
      prompt.point_labels =
          (1 - torch::arange(n) % 2).unsqueeze(0).expand({prompt.point_coords.size(0), n});
    }
  }
  if (has("sam.orig_box")) prompt.box = ref("sam.orig_box");
  if (has("sam.mask_input")) prompt.mask_input = ref("sam.mask_input");
  const bool multimask = ref("sam.iou").size(1) > 1;
  const auto out = predictor.predict(prompt, multimask);
  EXPECT_TRUE(
      support::tensors_close("sam.low_res_logits", out.low_res_logits, ref("sam.low_res_logits")));
  EXPECT_TRUE(support::tensors_close("sam.iou", out.iou_predictions, ref("sam.iou")));
  EXPECT_TRUE(support::tensors_close("sam.logits_full", out.logits, ref("sam.logits_full")));
  EXPECT_TRUE(support::masks_match("sam.masks", out.masks, ref("sam.masks"), ref("sam.logits_full")));
}

// A golden set with an output this suite does not know would otherwise pass unchecked.
TEST_P(GoldenSam, EveryOutputIsChecked) {
  const std::set<std::string> known = {"encoder.input",
                                       "encoder.output",
                                       "prompt.dense_pe",
                                       "prompt.points.coords",
                                       "prompt.points.labels",
                                       "prompt.points.sparse",
                                       "prompt.points.dense",
                                       "prompt.boxes.boxes",
                                       "prompt.boxes.sparse",
                                       "prompt.boxes.dense",
                                       "prompt.mixed.coords",
                                       "prompt.mixed.labels",
                                       "prompt.mixed.masks",
                                       "prompt.mixed.sparse",
                                       "prompt.mixed.dense",
                                       "decoder.multi.masks",
                                       "decoder.multi.iou",
                                       "decoder.single.masks",
                                       "decoder.single.iou",
                                       "sam.raw_image",
                                       "sam.resized_image",
                                       "sam.orig_points",
                                       "sam.orig_box",
                                       "sam.labels",
                                       "sam.mask_input",
                                       "sam.points",
                                       "sam.boxes",
                                       "sam.low_res_logits",
                                       "sam.iou",
                                       "sam.logits_full",
                                       "sam.masks"};
  for (const auto& key : ref_.keys()) {
    const auto group = key.substr(0, key.find('.'));
    if (group == "encoder" || group == "prompt" || group == "decoder" || group == "sam") {
      EXPECT_TRUE(known.count(key)) << key << " is in " << io_path_ << " but no test checks it";
    }
  }
}

// Every check on each attention path of this build (explicit; sdpa on libtorch >= 2.1).
INSTANTIATE_TEST_SUITE_P(Attention, GoldenSam, ::testing::ValuesIn(support::attention_paths()),
                         support::AttentionPathName());

}  // namespace
}  // namespace psam
