#include "psam/prob/latent_net.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <torch/nn/functional/upsampling.h>

#include <tuple>
#include <utility>

#include "psam/prob/axis_aligned_latent_net.h"
#include "psam/prob/conv_pool_latent_net.h"
#include "psam/util/activation_checkpoint.h"
#include "psam/util/error.h"

namespace psam::prob {
namespace {

// Area averaging when shrinking (an exact box filter for integer factors, so a 1024 input
// reduced to 128 is not aliased), bilinear otherwise; no-op at the same size.
torch::Tensor resize(const torch::Tensor& x, int64_t h, int64_t w) {
  namespace F = torch::nn::functional;
  if (x.size(2) == h && x.size(3) == w) return x;
  auto opts = F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w});
  if (h <= x.size(2) && w <= x.size(3)) return F::interpolate(x, opts.mode(torch::kArea));
  return F::interpolate(x, opts.mode(torch::kBilinear).align_corners(false));
}

}  // namespace

LatentNetKind latent_net_kind_from_string(const std::string& name) {
  return value_of<LatentNetKind>(name, "latent net");
}

std::string to_string(LatentNetKind kind) { return name_of(kind); }

void LatentNetOptions::validate() const {
  const auto check_positive = [](int64_t v, const char* name) {
    PSAM_CHECK(v >= 1, fmt::format("latent net: {} must be >= 1, got {}", name, v));
  };
  PSAM_CHECK(kind != LatentNetKind::kNone, "latent net: kind none builds no net");
  check_positive(latent_dim, "latent_dim");
  check_positive(in_channels, "in_channels");
  PSAM_CHECK(log_sigma_bound >= 0,
             fmt::format("latent net: log_sigma_bound must be >= 0 (0 = unclamped), got {}",
                         log_sigma_bound));
  PSAM_CHECK(input_size >= 0,
             fmt::format("latent net: input_size must be >= 0 (0 = as given), got {}", input_size));
  if (kind == LatentNetKind::kAxisAligned) {
    PSAM_CHECK(!num_filters.empty(), "latent net axis_aligned: num_filters is empty");
    for (int64_t f : num_filters) check_positive(f, "every num_filters entry");
    check_positive(convs_per_block, "convs_per_block");
  }
  if (kind == LatentNetKind::kEmbedding) check_positive(hidden_channels, "hidden_channels");
}

LatentNetImpl::LatentNetImpl(LatentNetOptions options) : options_(std::move(options)) {
  options_.validate();
}

DiagonalGaussian LatentNetImpl::forward(const LatentInputs& x, const torch::Tensor& mask) {
  const std::string name = fmt::format("{} {} net", to_string(options_.kind),
                                       options_.posterior ? "posterior" : "prior");
  const torch::Tensor& given = reads_embedding() ? x.image_embedding : x.image;
  const char* what = reads_embedding() ? "image embedding" : "image";
  PSAM_CHECK(given.defined(), fmt::format("{}: needs the {}", name, what));
  PSAM_CHECK(given.dim() == 4 && given.size(1) == options_.in_channels,
             fmt::format("{}: expected the {} as [B,{},H,W], got {}", name, what,
                         options_.in_channels, fmt::streamed(given.sizes())));
  torch::Tensor input = given;
  if (!reads_embedding() && options_.input_size > 0)
    input = resize(input, options_.input_size, options_.input_size);
  if (options_.posterior) {
    PSAM_CHECK(
        mask.defined() && mask.dim() == 4 && mask.size(0) == given.size(0) && mask.size(1) == 1,
        fmt::format("{}: expected the target mask as [{},1,H,W], got {}", name, given.size(0),
                    mask.defined() ? fmt::format("{}", fmt::streamed(mask.sizes())) : "none"));
    const auto m = resize(mask.to(input.options()), input.size(2), input.size(3));
    input = torch::cat({input, m}, 1);
  } else {
    PSAM_CHECK(!mask.defined(), fmt::format("{}: a prior net takes no mask", name));
  }
  torch::Tensor mu, log_sigma;
  if (checkpointing_) {
    const auto out = checkpointed(*this, [this](const std::vector<torch::Tensor>& in) {
      auto [m, s] = encode(in[0]);
      return std::vector<torch::Tensor>{m, s};
    }, {input});
    mu = out[0];
    log_sigma = out[1];
  } else {
    std::tie(mu, log_sigma) = encode(input);
  }
  if (options_.log_sigma_bound == 0) return DiagonalGaussian(mu, log_sigma.exp());
  return DiagonalGaussian::from_log_sigma(mu, log_sigma, options_.log_sigma_bound);
}

std::shared_ptr<LatentNetImpl> make_latent_net(const LatentNetOptions& options) {
  options.validate();
  if (options.kind == LatentNetKind::kAxisAligned)
    return std::make_shared<AxisAlignedLatentNetImpl>(options);
  return std::make_shared<ConvPoolLatentNetImpl>(options);
}

}  // namespace psam::prob
