// `psam info --build` against what the PyTorch of the same build says of itself: Debian's
// python3-torch for the Debian libtorch, the pip torch's own Python for a pip libtorch.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "cli/run_cli.h"
#include "support/testing.h"

namespace {

using psam::test::run_cli;

// The reference: torch's release number without suffixes ("2.11.0+cu130" -> "2.11.0", Debian's
// "1.13.0a0+git..." -> "1.13.0"), and its CUDA, cuDNN and NCCL as dotted versions, null where
// that torch has none.
nlohmann::json python_build_info() {
  psam::support::TempDir dir;
  const std::string script = dir.write("build.py", R"(
import json, re, torch
def dotted(v):
    return None if v is None else "{}.{}.{}".format(v // 10000, v // 100 % 100, v % 100)
cuda = torch.version.cuda
out = {"libtorch": re.match(r"\d+\.\d+\.\d+", torch.__version__).group(0), "cuda": cuda,
       "cudnn": dotted(torch.backends.cudnn.version()) if cuda else None,
       "nccl": ".".join(map(str, torch.cuda.nccl.version())) if cuda else None}
print(json.dumps(out))
)");
  return nlohmann::json::parse(psam::support::run_python(script));
}

TEST(CliInfoBuild, SaysWhatTheLinkedTorchSays) {
  if (!psam::support::python_has("torch")) GTEST_SKIP() << PSAM_PYTHON << " has no torch";
  const auto r = run_cli({"info", "--build", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto ours = nlohmann::json::parse(r.out);
  const auto theirs = python_build_info();
  for (const char* key : {"libtorch", "cuda", "cudnn", "nccl"})
    EXPECT_EQ(ours[key], theirs[key]) << key << ": psam " << ours[key] << ", torch " << theirs[key];
#if defined(PSAM_TORCH_CUDA)
  EXPECT_TRUE(ours["cuda"].is_string());  // the CUDA paths were compiled
#else
  EXPECT_TRUE(ours["cuda"].is_null());
#endif
  EXPECT_GE(ours["cuda_devices"].get<int>(), 0);
}

TEST(CliInfoBuild, TextNamesEachPart) {
  const auto r = run_cli({"info", "--build"});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* line : {"\nlibtorch " TORCH_VERSION "\n", "\ncuda: ", "\ncudnn: ", "\nnccl: ",
                           "\ncuda devices: ", "\ndistributed backends: gloo"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << " not in:\n" << r.out;
}

}  // namespace
