// Device bugs found without a GPU. Every registered method (psam info --models) runs with its
// weights on the `meta` device: a training step (loss, backward, optimizer step), sample() as
// the evaluator and predict call it, and the evaluator itself. A meta tensor meeting a tensor on
// another device fails the op, as a CPU tensor meeting a CUDA one fails on a GPU, and a random
// draw refuses a generator of another device (check_generator), as CUDA does. A method added
// to the registry later is checked too: this test fails until it has a tiny config in
// tests/models/tiny_methods.h.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "psam/data/loader/loader.h"
#include "psam/eval/evaluator.h"
#include "psam/models/prob_sam/prob_sam_model.h"
#include "psam/models/registry.h"
#include "psam/prob/gaussian.h"
#include "psam/train/optimizer.h"
#include "psam/util/device.h"
#include "psam/util/error.h"
#include "psam/util/torch_version.h"
#include "support/testing.h"
#include "models/tiny_methods.h"
#include "train/train_fixture.h"

namespace psam::models {
namespace {

const c10::Device kMeta(c10::kMeta);

#if PSAM_TORCH_HAS_META_MODULES
// libtorch's C++ Module::to moves each tensor with set_data, whose compatibility check knows only
// the dense backends, so a module cannot move to the meta device (Python's Module.to('meta')
// swaps its Parameters instead). Answering "compatible" for a meta source lets set_data turn each
// parameter and buffer into a meta tensor in place, which every handle to it then sees.
bool compatible_for_meta(const at::Tensor& self, const at::Tensor& from) {
  return from.is_meta() ||
         self.unsafeGetTensorImpl()->has_compatible_shallow_copy_type(from.key_set());
}

// Some ops have their meta kernels only in Python (torch/_meta_registrations.py and the
// decompositions); in C++ they reach the Meta fallback, which refuses. For those this kernel runs
// the op's CPU kernel on zero-filled stand-ins of the meta inputs and returns meta tensors of
// the results' shapes (an output that aliases an input, as in-place and out= ops return, is that
// meta input itself). A method that uses another such op fails these tests naming it ("no fake
// impl or Meta kernel registered"): add it to kCpuStandInOps.
// A non-meta input is refused as ATen refuses mixed devices (a 0-dim CPU tensor, a scalar, may
// meet any device), so the stand-in never hides a tensor made on the wrong device.
at::Tensor cpu_stand_in(const at::Tensor& t) {
  if (!t.defined()) return t;
  TORCH_CHECK(t.is_meta() || (t.is_cpu() && t.dim() == 0), "Tensor on device ", t.device(),
              " is not on the expected device meta!");
  return t.is_meta() ? at::zeros(t.sizes(), t.options().device(c10::kCPU)) : t;
}
at::Tensor meta_of(const at::Tensor& t) {
  return t.defined() && !t.is_meta()
             ? at::empty_strided(t.sizes(), t.strides(), t.options().device(c10::kMeta))
             : t;
}

void meta_by_cpu(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const auto& schema = op.schema();
  const size_t n_args = schema.arguments().size();
  const size_t first = stack->size() - n_args;
  std::vector<c10::IValue> originals(stack->begin() + static_cast<std::ptrdiff_t>(first),
                                     stack->end());
  for (size_t i = first; i < stack->size(); ++i) {
    c10::IValue& v = (*stack)[i];
    if (v.isTensor()) {
      v = cpu_stand_in(v.toTensor());
    } else if (v.isTensorList()) {
      auto list = v.toTensorList();
      for (size_t k = 0; k < list.size(); ++k) list[k] = cpu_stand_in(list[k]);
      v = list;
    } else if (v.isList()) {
      auto list = v.toList();
      for (size_t k = 0; k < list.size(); ++k) {
        const c10::IValue e = list.get(k);
        if (e.isTensor()) list.set(k, cpu_stand_in(e.toTensor()));
      }
    }
  }
  op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::CPU), stack);
  const size_t n_returns = schema.returns().size();
  for (size_t j = 0; j < n_returns; ++j) {
    c10::IValue& r = (*stack)[stack->size() - n_returns + j];
    const auto* alias = schema.returns()[j].alias_info();
    std::optional<size_t> source;
    if (alias != nullptr) {
      for (size_t i = 0; i < n_args; ++i) {
        const auto* a = schema.arguments()[i].alias_info();
        if (a != nullptr && a->beforeSets() == alias->beforeSets()) source = i;
      }
    }
    if (source) {
      r = originals[*source];
    } else if (r.isTensor()) {
      r = meta_of(r.toTensor());
    } else if (r.isTensorList()) {
      auto list = r.toTensorList();
      for (size_t k = 0; k < list.size(); ++k) list[k] = meta_of(list[k]);
      r = list;
    }
  }
}

constexpr const char* kCpuStandInOps[] = {
    "relu", "relu_", "native_batch_norm", "convolution", "convolution_backward",
    "log_sigmoid_forward", "log_sigmoid_backward", "where.self", "logical_and.out", "native_layer_norm_backward",
};

TORCH_LIBRARY_IMPL(aten, Meta, m) {
  m.impl("_has_compatible_shallow_copy_type", TORCH_FN(compatible_for_meta));
  for (const char* name : kCpuStandInOps)
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&meta_by_cpu>());
}
#endif

class OnMeta : public test::MethodsOnStore<24, 40> {  // wide images
 protected:

  void SetUp() override {
#if !PSAM_TORCH_HAS_META_MODULES
    GTEST_SKIP() << "libtorch " TORCH_VERSION " cannot move modules to the meta device; the "
                    "libtorch 2.x build runs these tests";
#endif
  }

  std::unique_ptr<Model> meta_model() {
    const auto config = test::tiny_config_for(GetParam());
    if (!config) {
      ADD_FAILURE() << "model.kind " << GetParam()
                    << " has no tiny config in tests/models/tiny_methods.h: add one";
      return nullptr;
    }
    torch::manual_seed(1);
    if (!registry_entry(GetParam()).learns) return build_unlearned(GetParam(), kMeta);
    return build_model(*config, kMeta);
  }

  static data::Batch first_batch(const Model& model, bool training, int64_t batch_size) {
    data::LoaderOptions o = test::tiny_loader_options(training);
    o.batch_size = batch_size;
    return MethodsOnStore::first_batch(model, training, o);
  }
};

bool has_parameters(Model& model) { return !model.module().parameters().empty(); }

TEST_P(OnMeta, TrainingStep) {
  auto model = meta_model();
  ASSERT_TRUE(model);
  if (!registry_entry(GetParam()).learns) GTEST_SKIP() << GetParam() << " learns nothing";
  ASSERT_TRUE(model->device().is_meta());
  model->module().train();
  const data::Batch batch = first_batch(*model, true, 2);
  // The trainer's generator is a CPU one whatever the device: a method maps it to the device's.
  const auto loss = model->loss(batch, train::LossConfig{}, 0,
                                at::make_generator<at::CPUGeneratorImpl>(3));
  ASSERT_TRUE(loss.total.defined());
  EXPECT_TRUE(loss.total.is_meta());
  EXPECT_EQ(loss.total.dim(), 0);
  for (const auto& [name, value] : loss.terms) EXPECT_TRUE(value.is_meta()) << name;
  loss.total.backward();
  std::vector<at::Tensor> params;
  for (const auto& [name, p] : model->trainable_parameters()) {
    // Parameters a box prompt does not reach (the point embeddings) get no gradient.
    if (p.grad().defined()) {
      EXPECT_TRUE(p.grad().is_meta()) << name;
    }
    params.push_back(p);
  }
  ASSERT_FALSE(params.empty());
  EXPECT_TRUE(std::any_of(params.begin(), params.end(),
                          [](const at::Tensor& p) { return p.grad().defined(); }));
  train::Optimizer optimizer(model->trainable_parameters(), test::tiny_train_config());
  optimizer.step();
  for (const auto& p : params) EXPECT_TRUE(p.is_meta());
}

TEST_P(OnMeta, SampleAsPredictCallsIt) {
  auto model = meta_model();
  ASSERT_TRUE(model);
  torch::NoGradGuard no_grad;
  model->module().eval();
  // psam predict --samples: one image of any size through data::image_batch.
  data::LoaderOptions o = test::tiny_loader_options(false);
  model->prepare_loader(o, false);
  const at::Tensor image = store_->images()[0];
  const data::Batch batch =
      data::image_batch(image, store_->info().intensity, {4, 3, 20, 15}, o);
  const auto out = model->sample(batch, 3, at::make_generator<at::CPUGeneratorImpl>(5));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 24, 40}));
  EXPECT_EQ(out.mean_logits.sizes(), (std::vector<int64_t>{24, 40}));
  if (has_parameters(*model)) {
    EXPECT_TRUE(out.logits.is_meta());
    EXPECT_TRUE(out.mean_logits.is_meta());
  }
}

// The evaluator end to end with the model on meta: sample() in chunks and quality() in one
// CaseScope per case, on the evaluator's own generators (values are zeros on the host side).
TEST_P(OnMeta, Evaluation) {
  auto model = meta_model();
  ASSERT_TRUE(model);
  eval::EvalConfig e;
  e.samples = 4;
  e.sample_counts = {2, 4};
  e.figure_cases = 1;
  e.bootstrap_resamples = 10;
  e.preprocessing = test::tiny_loader_options(false);
  const auto r = eval::evaluate(*model, *store_, store_->split_indices("test"), e);
  EXPECT_EQ(static_cast<int64_t>(r.cases.size()),
            static_cast<int64_t>(store_->split_indices("test").size()));
}

INSTANTIATE_TEST_SUITE_P(Registry, OnMeta, ::testing::ValuesIn(test::registered_kinds()),
                         [](const auto& info) { return info.param; });

// The check itself: a method with a planted device bug fails on meta, through the same
// evaluator the registered methods pass.
class CpuMaskInTheForwardPass : public ProbSamModel {
 public:
  using ProbSamModel::ProbSamModel;
  CaseSamples sample(const data::Batch& batch, int64_t n, at::Generator generator) override {
    CaseSamples out = ProbSamModel::sample(batch, n, generator);
    // The bug: a mask made without the model's device, then combined with its output.
    const at::Tensor border = torch::zeros(out.mean_logits.sizes());
    out.mean_logits = out.mean_logits + border;
    return out;
  }
};

TEST(OnMetaPlanted, ACpuTensorInTheForwardPassFails) {
#if !PSAM_TORCH_HAS_META_MODULES
  GTEST_SKIP() << "libtorch " TORCH_VERSION " cannot move modules to the meta device";
#endif
  support::TempDir dir;
  test::make_synthetic_store(dir.path() + "/store", 12);
  const auto store = data::DatasetStore::open(dir.path() + "/store");
  eval::EvalConfig e;
  e.samples = 2;
  e.bootstrap_resamples = 10;
  e.preprocessing = test::tiny_loader_options(false);
  for (const bool planted : {false, true}) {
    const ModelConfig config = test::tiny_model("reference");
    std::unique_ptr<Model> model = planted ? std::make_unique<CpuMaskInTheForwardPass>(config)
                                           : std::make_unique<ProbSamModel>(config);
    model->to(kMeta);
    if (planted) {
      EXPECT_THROW(eval::evaluate(*model, store, store.split_indices("test"), e), c10::Error);
    } else {
      EXPECT_NO_THROW(eval::evaluate(*model, store, store.split_indices("test"), e));
    }
  }
}

TEST(OnMetaPlanted, ACpuGeneratorForAMetaDrawFails) {
  const prob::DiagonalGaussian q(torch::zeros({1, 3}, kMeta), torch::ones({1, 3}, kMeta));
  EXPECT_THROW((void)q.rsample(at::make_generator<at::CPUGeneratorImpl>(1)), Error);
  EXPECT_TRUE(q.rsample(c10::nullopt).is_meta());  // the device's own (default) generator
}

}  // namespace
}  // namespace psam::models
