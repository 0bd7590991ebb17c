// Activation checkpointing (torch.utils.checkpoint, reentrant form): a segment of the forward
// runs without keeping its intermediate activations; backward runs it again, with autograd, on
// the saved inputs and back-propagates through the recomputation. Memory falls from the
// segment's activations to its inputs, for one more forward of the segment in backward.
//
// The recomputation sees what the forward saw: the states of the default CPU generator, of the
// default CUDA generator when an input is on CUDA, and of `generators` (e.g. a dropout's) are
// restored before it and put back after, so dropout replays its masks; autocast is set as it
// was. The segment must be a function of its inputs and its module's parameters: a tensor it
// captures from outside gets no gradient.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <functional>
#include <vector>

namespace psam {

using Segment = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>& inputs)>;

// segment(inputs), checkpointed when grad mode is on and an input or a parameter of `module`
// (the segment's weights) requires a gradient; else simply segment(inputs).
std::vector<at::Tensor> checkpointed(const torch::nn::Module& module, const Segment& segment,
                                     const std::vector<at::Tensor>& inputs,
                                     std::vector<at::Generator> generators = {});

}  // namespace psam
