// `psam info` in-process through psam::cli::run, on the golden checkpoints and on files psam
// writes, checked against the io readers and against arithmetic on the tensors.
#include <nlohmann/json.hpp>


#include "info.h"
#include "io/io_testing.h"
#include "psam/io/npy.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "cli/run_cli.h"

namespace {

using psam::testing::TempDir;

using Result = psam::test::CliResult;
using psam::test::run_cli;

std::string golden(const std::string& name) { return psam::testing::golden_dir() + "/" + name; }

TEST(CliInfo, ListsEveryTensorOfTheGoldenStateDict) {
  PSAM_REQUIRE_GOLDEN();
  const Result r = run_cli({"info", golden("sam_tiny.pth")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("torch zip archive"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top level: OrderedDict with _metadata, 202 keys"), std::string::npos);
  const auto tensors = psam::io::read_tensors(golden("sam_tiny.pth"));
  int64_t total = 0;
  for (const auto& [name, t] : tensors) {
    // One line per tensor: name, shape, dtype, bytes.
    const std::string line = fmt::format("{}  ", name);
    const size_t at = r.out.find("\n" + line);
    ASSERT_NE(at, std::string::npos) << name;
    const std::string row = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
    EXPECT_NE(row.find(fmt::format("[{}]", fmt::join(t.sizes(), ", "))), std::string::npos) << row;
    EXPECT_NE(row.find("float32"), std::string::npos) << row;
    EXPECT_NE(row.find(" " + std::to_string(t.nbytes())), std::string::npos) << row;
    total += static_cast<int64_t>(t.nbytes());
  }
  EXPECT_NE(r.out.find(fmt::format("202 tensors, {} bytes", total)), std::string::npos) << r.out;
}

TEST(CliInfo, NestedCheckpointShowsItsStructure) {
  PSAM_REQUIRE_GOLDEN();
  const Result r = run_cli({"info", golden("probsam_tiny.pth")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("top level: dict, 3 keys"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  prior: OrderedDict with _metadata (8 tensors)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  z_projector: OrderedDict with _metadata (4 tensors)"), std::string::npos);
  EXPECT_NE(r.out.find("posterior.encoder.0.weight"), std::string::npos);
  EXPECT_NE(r.out.find("[32, 4, 3, 3]"), std::string::npos);  // 4 input channels: image + mask
}

TEST(CliInfo, JsonWithStatsMatchesTheTensors) {
  TempDir dir;
  c10::impl::GenericDict obj(c10::StringType::get(), c10::AnyType::get());
  c10::impl::GenericDict model(c10::StringType::get(), c10::AnyType::get());
  const at::Tensor w = at::arange(-3, 9, at::kFloat).reshape({3, 4}) * 0.5;
  model.insert("w", w);
  model.insert("mask", at::tensor({1, 0, 1, 1}).to(at::kBool));
  model.insert("empty", at::zeros({0}, at::kHalf));
  obj.insert("model", model);
  obj.insert("epoch", 7);
  obj.insert("note", "best");
  const std::string path = dir.file("ckpt.pt");
  psam::io::write_pth(path, c10::IValue(obj));

  const Result r = run_cli({"info", path, "--json", "--stats"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["container"], "torch zip archive");
  EXPECT_EQ(j["top_level"]["type"], "dict");
  EXPECT_EQ(j["top_level"]["entries"][0],
            (nlohmann::json{{"key", "model"}, {"type", "dict"}, {"tensors", 3}}));
  EXPECT_EQ(j["top_level"]["entries"][1],
            (nlohmann::json{{"key", "epoch"}, {"type", "int"}, {"value", 7}}));
  EXPECT_EQ(j["top_level"]["entries"][2]["value"], "best");
  ASSERT_EQ(j["count"], 3);
  EXPECT_EQ(j["total_bytes"], 48 + 4);
  const auto& t0 = j["tensors"][0];
  EXPECT_EQ(t0["name"], "model.w");
  EXPECT_EQ(t0["shape"], (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(t0["dtype"], "float32");
  EXPECT_EQ(t0["min"], -1.5);
  EXPECT_EQ(t0["max"], 4.0);
  EXPECT_DOUBLE_EQ(t0["mean"].get<double>(), 1.25);  // mean of -3..8 is 2.5, times 0.5
  EXPECT_EQ(j["tensors"][1]["mean"], 0.75);          // 3 of 4 true
  EXPECT_TRUE(j["tensors"][2]["min"].is_null());     // empty tensor

  const Result text = run_cli({"info", "--stats", path});
  ASSERT_EQ(text.rc, 0) << text.err;
  EXPECT_NE(text.out.find("  epoch: int = 7"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  note: str = \"best\""), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("mean"), std::string::npos);
}

TEST(CliInfo, SafetensorsAndNpy) {
  TempDir dir;
  psam::io::TensorDict t;
  t.insert("a", at::ones({2, 3}, at::kBFloat16));
  psam::io::write_safetensors(dir.file("x.safetensors"), t, {{"format", "pt"}});
  Result r = run_cli({"info", dir.file("x.safetensors")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("safetensors"), std::string::npos);
  EXPECT_NE(r.out.find("metadata: format = pt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2, 3]  bfloat16"), std::string::npos) << r.out;
  psam::io::write_npy(dir.file("images.npy"), at::zeros({4, 8, 8}, at::kByte));
  r = run_cli({"info", dir.file("images.npy"), "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["container"], "npy");
  EXPECT_EQ(j["tensors"][0]["name"], "images");
  EXPECT_EQ(j["total_bytes"], 256);
}

TEST(CliInfo, UnknownAndDamagedFilesAreOneLineErrors) {
  TempDir dir;
  psam::testing::write_bytes(dir.file("notes.txt"), "just text");
  Result r = run_cli({"info", dir.file("notes.txt")});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("not a torch zip archive, safetensors, npy or pickle file"),
            std::string::npos)
      << r.err;
  psam::testing::write_bytes(dir.file("cut.pth"),
                             std::string("PK\x03\x04", 4) + std::string(50, 'x'));
  r = run_cli({"info", dir.file("cut.pth")});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("damaged torch zip archive"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = run_cli({"info", dir.file("missing.pth")});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
  r = run_cli({"info"});
  EXPECT_NE(r.rc, 0);
}

}  // namespace
