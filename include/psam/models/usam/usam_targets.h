// What USAM's heads learn (UncertainSAM, Kaiser et al. 2025), computed from SAM's masks for one
// image+prompt and one ground-truth mask. IoU follows psam's convention (two empty masks: 1).
//   iou               the best IoU of SAM's masks with the ground truth
//   unsupervised_iou  the IoU of the mask SAM's own IoU head ranks first (the one returned)
//   task_gap          iou - unsupervised_iou: what knowing the intended task would gain
//   prompt_gap        iou with the denser prompt - iou: what a better prompt would gain
//   model_gap         a larger SAM's iou - iou: what a bigger model would gain (only with a
//                     larger SAM configured)
// Gaps are learnt shifted by +0.5 and clipped to [0, 1] (the reference's rule), so every head
// ends in a sigmoid.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace psam::models {

// The heads, in their order in the heads' output and the targets: four, and model_gap last
// when a larger SAM is configured.
std::vector<std::string> usam_head_names(bool model_gap);
// Heads 0 and 1 predict an IoU; the others a gap (learnt shifted).
inline bool usam_head_is_gap(int64_t head) { return head >= 2; }

// IoU of each mask [M,H,W] with the ground truth [H,W] (bool or 0/1 uint8), float64 [M].
std::vector<double> mask_ious(const at::Tensor& masks, const at::Tensor& ground_truth);

// gap + 0.5 clipped to [0, 1].
double shifted_gap(double gap);

// The targets of one ground truth, in usam_head_names() order (gaps shifted): `ious` of SAM's
// masks with it, `chosen` the mask SAM ranks first, `dense_ious` of SAM's masks for the
// denser prompt (empty: no denser prompt exists, the gap is 0), `larger_ious` of the larger
// SAM's masks for the same prompt (empty: no larger SAM, no model_gap target).
std::vector<double> usam_targets(const std::vector<double>& ious, int64_t chosen,
                                 const std::vector<double>& dense_ious,
                                 const std::vector<double>& larger_ious = {});

// The denser prompt's points for a ground truth [H,W]: its centre point (the foreground pixel
// nearest the foreground's centroid, lowest row then column on ties) and then `extra` distinct
// foreground pixels drawn uniformly without replacement from the rest (fewer when the mask has
// fewer), as (x, y) pixel coordinates (as the loader's boxes), float [P,2]; [0,2] for an empty
// mask. Drawn from `seed`.
at::Tensor dense_prompt_points(const at::Tensor& ground_truth, int64_t extra, uint64_t seed);

}  // namespace psam::models
