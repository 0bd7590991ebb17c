// psam export end to end: the files must load in PyTorch (PSAM_PYTHON, torch.load with
// weights_only=True) with every key and value of the source, the safetensors header must parse
// with a plain-Python reader, re-imported weights must give identical predictions, and a failure
// must leave nothing behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "psam/io/pth.h"
#include "psam/io/safetensors.h"
#include "psam/io/state_dict.h"
#include "psam/sam/checkpoint.h"
#include "psam/sam/predictor.h"
#include "psam/util/fs.h"
#include "psam/sam/config_json.h"
#include "support/golden.h"
#include "support/golden_prob.h"
#include "support/testing.h"

namespace psam {
namespace {

namespace fs = std::filesystem;

// Loads argv[1] with torch.load(weights_only=True) and asserts it is a flat dict equal, key by
// key in order and value by value, to the reference argv[2] (any torch.save file; with argv[3],
// its argv[3] entry).
constexpr const char* kCompareScript = R"(import sys, torch
out = torch.load(sys.argv[1], weights_only=True)
ref = torch.load(sys.argv[2])
if len(sys.argv) > 3:
    ref = ref[sys.argv[3]]
assert type(out) is dict, type(out)
assert list(out) == list(ref), (len(out), len(ref))
for k, v in ref.items():
    assert out[k].dtype == v.dtype and out[k].shape == v.shape and torch.equal(out[k], v), k
print(len(out))
)";

class ExportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    set_ = support::find_golden_set(&why);
    if (!set_) GTEST_SKIP() << why;
    golden_ = set_->file("sam", ".pth");
    prob_ = set_->file("probsam", ".pth");
    config_ = set_->file("config", ".json");
    io_ = set_->file("io", ".pth");
  }

  int run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return cli::run(args, {out_, err_});
  }
  void need_torch() {
    if (!support::python_has("torch")) GTEST_SKIP() << PSAM_PYTHON " has no torch";
  }
  nlohmann::json card(const std::string& weights) const {
    return nlohmann::json::parse(read_file(weights + ".json"));
  }

  // A run directory as the trainer leaves it: config.yaml, checkpoints/{last,best}.pt holding
  // {"model": Probabilistic SAM state dict, "epoch": ...}, eval/test/summary.json, and a
  // dataset store the config names.
  std::string make_run() const {
    const auto run = tmp_.path() + "/run";
    const auto store = tmp_.write("store/dataset.json", R"({"name": "synthetic", "count": 12})");
    tmp_.write("run/config.yaml",
               "model:\n  latent_net: reference\n  latent_dim: 6\n  init_from: \"sam.pth\"\n"
               "data:\n  store: " +
                   fs::path(store).parent_path().string() + "\n  batch_size: 2\n");
    tmp_.write("run/eval/test/summary.json", R"({"ged": 0.25, "hm_iou": 0.5})");
    c10::impl::GenericDict model(c10::StringType::get(), c10::AnyType::get());
    for (const auto& [name, t] : support::golden_prob_sam_state(*set_)) model.insert(name, t);
    for (const char* which : {"best", "last"}) {
      c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
      ckpt.insert("model", model);
      ckpt.insert("epoch", int64_t{which[0] == 'b' ? 2 : 5});
      fs::create_directories(run + "/checkpoints");
      io::write_pth(run + "/checkpoints/" + which + ".pt", ckpt);
    }
    return run;
  }

  std::optional<support::GoldenSet> set_;
  mutable support::TempDir tmp_;
  std::string golden_, prob_, config_, io_;
  std::ostringstream out_, err_;
};

TEST_F(ExportCommand, SamPartLoadsInTorchWithWeightsOnlyAndEqualsTheSource) {
  need_torch();
  const auto out = tmp_.file("sam_export.pth");
  ASSERT_EQ(run({"export", golden_, "--out", out, "--model", config_}), 0) << err_.str();
  const auto script = tmp_.write("compare.py", kCompareScript);
  EXPECT_EQ(support::run_python(script + " " + out + " " + golden_),
            std::to_string(io::read_tensors(golden_).size()) + "\n");

  // The card records the file's SHA-256 as sha256sum would (Python's hashlib as the reference).
  const auto hash =
      tmp_.write("hash.py",
                 "import sys, hashlib\n"
                 "print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())\n");
  const auto c = card(out);
  EXPECT_EQ(c["weights"]["sha256"].get<std::string>() + "\n",
            support::run_python(hash + " " + out));
  EXPECT_EQ(c["weights"]["bytes"].get<int64_t>(), static_cast<int64_t>(fs::file_size(out)));
  EXPECT_EQ(c["weights"]["part"], "sam");
  EXPECT_EQ(c["sam_config"], sam::sam_config_to_json(sam::read_sam_config_json(config_)));
  EXPECT_EQ(c["source"]["run_dir"], "");
  EXPECT_FALSE(fs::exists(out + ".psam-partial"));
}

// A random ViT-B under "sam." in a training checkpoint: the export loads in torch with
// weights_only=True and has exactly the official key list (names, order, shapes, dtypes); its
// values are the checkpoint's (compared here, to keep the test short).
TEST_F(ExportCommand, VitBExportHasTheOfficialKeyList) {
  need_torch();
  const auto keys = fs::path(golden_).parent_path() / "sam_vit_b_state_dict_keys.txt";
  if (!fs::exists(keys)) GTEST_SKIP() << keys << " not found";
  torch::manual_seed(7);
  const auto expected = io::state_dict(*sam::build_sam(sam::vit_b()));
  const auto input = tmp_.file("vit_b_ckpt.pt"), out = tmp_.file("vit_b.pth");
  {
    c10::impl::GenericDict state(c10::StringType::get(), c10::AnyType::get());
    for (const auto& [name, t] : expected) state.insert("sam." + name, t);
    c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
    ckpt.insert("model", state);
    io::write_pth(input, ckpt);
  }
  ASSERT_EQ(run({"export", input, "--out", out}), 0) << err_.str();

  const auto script = tmp_.write("vitb.py", R"(import sys, torch
out = torch.load(sys.argv[1], weights_only=True)
official = [line.rstrip("\n").split("\t") for line in open(sys.argv[2])]
got = [[k, "x".join(str(d) for d in v.shape), str(v.dtype).replace("torch.", "")]
       for k, v in out.items()]
assert got == official, [(a, b) for a, b in zip(got, official) if a != b][:3] or (len(got), len(official))
print(len(out))
)");
  EXPECT_EQ(support::run_python(script + " " + out + " " + keys.string()), "314\n");
  const auto exported = io::read_tensors(out);
  ASSERT_EQ(exported.keys(), expected.keys());
  for (const auto& [name, t] : expected) EXPECT_TRUE(exported.at(name).equal(t)) << name;
  EXPECT_EQ(card(out)["sam_config"], sam::sam_config_to_json(sam::vit_b()));
}

// The safetensors file read by a few lines of plain Python (header JSON + raw little-endian
// bytes), compared with the golden weights as torch loads them.
TEST_F(ExportCommand, SafetensorsHasTheWeightsAndTheConfigMetadata) {
  need_torch();
  const auto out = tmp_.file("sam.safetensors");
  ASSERT_EQ(run({"export", golden_, "--out", out, "--decoder-heads", "4"}), 0) << err_.str();
  const auto script = tmp_.write("st.py", R"(import sys, json, struct, torch
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
ref = torch.load(sys.argv[2])
assert list(header) == list(ref), "key order"
for k, v in ref.items():
    h = header[k]
    assert h["dtype"] == "F32" and h["shape"] == list(v.shape), k
    b, e = h["data_offsets"]
    got = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32).reshape(v.shape)
    assert torch.equal(got, v), k
print(json.dumps(meta))
)");
  const auto meta = nlohmann::json::parse(support::run_python(script + " " + out + " " + golden_));
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta["psam_part"], "sam");
  EXPECT_EQ(meta["psam_version"], PSAM_VERSION);
  const auto config = nlohmann::json::parse(meta["config"].get<std::string>());
  EXPECT_EQ(sam::sam_config_from_json(config, "metadata"), sam::read_sam_config_json(config_));
  EXPECT_EQ(card(out)["weights"]["format"], "safetensors");
}

// Export -> load_sam -> the SamPredictor on the golden raw image and prompts gives exactly the
// outputs of the model loaded from the golden file (and those match the official outputs).
TEST_F(ExportCommand, ReimportedWeightsPredictIdentically) {
  const auto pth = tmp_.file("re.pth"), st = tmp_.file("re.safetensors");
  ASSERT_EQ(run({"export", golden_, "--out", pth, "--model", config_}), 0) << err_.str();
  ASSERT_EQ(run({"export", golden_, "--out", st, "--model", config_}), 0) << err_.str();
  const auto config = sam::read_sam_config_json(config_);
  const auto ref = io::read_tensors(io_);
  const auto predict = [&](const std::string& weights) {
    auto model = sam::load_sam(io::read_tensors(weights), config, 0, weights).model;
    sam::SamPredictor predictor(model);
    predictor.set_image(ref.at("sam.raw_image"));
    sam::PointBoxPrompt prompt;
    prompt.box = ref.at("sam.orig_box");
    prompt.point_coords = ref.at("sam.orig_points");
    prompt.point_labels = torch::tensor({1, 0}, torch::kLong).view({1, 2});
    return predictor.predict(prompt, true);
  };
  const auto expected = predict(golden_);
  EXPECT_TRUE(support::tensors_close("sam.iou", expected.iou_predictions, ref.at("sam.iou")));
  for (const auto& weights : {pth, st}) {
    const auto got = predict(weights);
    EXPECT_TRUE(got.low_res_logits.equal(expected.low_res_logits)) << weights;
    EXPECT_TRUE(got.iou_predictions.equal(expected.iou_predictions)) << weights;
    EXPECT_TRUE(got.masks.equal(expected.masks)) << weights;
  }
}

TEST_F(ExportCommand, RunDirectoryFullPartAndModelCard) {
  need_torch();
  const auto run_dir = make_run();
  const auto out = tmp_.file("full.pth");
  ASSERT_EQ(run({"export", run_dir, "--out", out, "--part", "full", "--decoder-heads", "4"}), 0)
      << err_.str();
  // Keys and values against the golden files, as torch loads them.
  const auto script = tmp_.write("full.py", R"(import sys, torch
out = torch.load(sys.argv[1], weights_only=True)
sam, prob = torch.load(sys.argv[2]), torch.load(sys.argv[3])
expected = {"sam." + k: v for k, v in sam.items()}
names = {"prior": "prior_net", "posterior": "posterior_net", "z_projector": "fcomb.z_projector"}
for part, sd in prob.items():
    expected.update({names[part] + "." + k: v for k, v in sd.items()})
expected.update({"fcomb.decoder." + k[len("mask_decoder."):]: v
                 for k, v in sam.items() if k.startswith("mask_decoder.")})
assert sorted(out) == sorted(expected), set(out) ^ set(expected)
for k, v in expected.items():
    assert torch.equal(out[k], v), k
print(len(out))
)");
  const auto n = io::read_tensors(golden_).size() + io::read_tensors(prob_).size();
  size_t decoder = 0;
  for (const auto& key : io::read_tensors(golden_).keys())
    decoder += key.rfind("mask_decoder.", 0) == 0;
  EXPECT_EQ(support::run_python(script + " " + out + " " + golden_ + " " + prob_),
            std::to_string(n + decoder) + "\n");

  const auto c = card(out);
  EXPECT_EQ(c["source"]["checkpoint"], run_dir + "/checkpoints/best.pt");
  EXPECT_EQ(c["source"]["run_dir"], run_dir);
  EXPECT_EQ(c["model"]["latent_dim"], 6);
  EXPECT_EQ(c["model"]["init_from"], "sam.pth");
  EXPECT_EQ(c["training_data"]["config"]["batch_size"], 2);
  EXPECT_EQ(c["training_data"]["datasets"]["store"]["name"], "synthetic");
  EXPECT_EQ(c["eval"]["test"]["ged"], 0.25);
  EXPECT_EQ(c["weights"]["part"], "full");
  EXPECT_EQ(c["sam_config"]["dec_heads"], 4);

  // The last checkpoint, given by path, still belongs to the run; the default part is the whole
  // model (for a Probabilistic SAM the reference tree), which reproduces the run's metrics.
  ASSERT_EQ(run({"export", run_dir + "/checkpoints/last.pt", "--out", tmp_.file("whole.pth")}), 0)
      << err_.str();
  const auto whole = card(tmp_.file("whole.pth"));
  EXPECT_EQ(whole["weights"]["part"], "full");
  EXPECT_EQ(whole["eval"]["test"]["hm_iou"], 0.5);

  // SAM alone out of a Probabilistic SAM cannot reproduce them: no metrics on its card.
  ASSERT_EQ(run({"export", run_dir, "--out", tmp_.file("sam_part.pth"), "--part", "sam",
                 "--decoder-heads", "4"}),
            0)
      << err_.str();
  const auto sam_alone = card(tmp_.file("sam_part.pth"));
  EXPECT_FALSE(sam_alone.contains("eval"));
  EXPECT_NE(sam_alone.value("eval_omitted", "").find("part sam"), std::string::npos) << sam_alone;
}

// torch.load with its defaults reads every .pth export kind: from PyTorch 2.6 on the default is
// weights_only=True, the safe unpickler every current client uses (older torch is told so).
TEST_F(ExportCommand, TorchLoadWithItsDefaultsReadsEveryExportKind) {
  need_torch();
  const auto run_dir = make_run();
  const auto script = tmp_.write("default_load.py", R"(import sys, torch
major, minor = (int(x) for x in torch.__version__.split(".")[:2])
kwargs = {} if (major, minor) >= (2, 6) else {"weights_only": True}
out = torch.load(sys.argv[1], **kwargs)
assert type(out) is dict and all(type(v) is torch.Tensor for v in out.values()), type(out)
print(len(out))
)");
  for (const char* part : {"sam", "full"}) {
    const auto out = tmp_.file(std::string(part) + ".pth");
    ASSERT_EQ(run({"export", run_dir, "--out", out, "--part", part, "--decoder-heads", "4"}), 0)
        << err_.str();
    EXPECT_EQ(support::run_python(script + " " + out),
              std::to_string(io::read_tensors(out).size()) + "\n")
        << part;
  }
}

// The real client: the official segment_anything package builds its own Sam of the golden shape,
// loads psam's export strictly, and its SamPredictor gives on the golden raw image and prompts
// exactly what it gives with the source weights. Against the golden outputs the tolerance is
// looser: those resized the image in float, SamPredictor resizes it through PIL in uint8.
// Needs segment_anything (the pip leg's Python).
TEST_F(ExportCommand, OfficialSegmentAnythingLoadsAndPredicts) {
  if (!support::python_has("segment_anything"))
    GTEST_SKIP() << PSAM_PYTHON " has no segment_anything (tools/install_deps.sh --torch pip)";
  const auto out = tmp_.file("sam_for_sa.pth");
  ASSERT_EQ(run({"export", golden_, "--out", out, "--model", config_}), 0) << err_.str();
  const auto script = tmp_.write("segment_anything_client.py", R"(import sys, json, functools
import numpy as np, torch
from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                       TwoWayTransformer)
from segment_anything import SamPredictor
c = json.load(open(sys.argv[2]))
grid = c["img_size"] // c["patch"]
def build():
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=c["depth"], embed_dim=c["embed_dim"], img_size=c["img_size"], mlp_ratio=4,
            norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6), num_heads=c["heads"],
            patch_size=c["patch"], qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=c["global_idx"], window_size=c["window"],
            out_chans=c["prompt_dim"]),
        prompt_encoder=PromptEncoder(
            embed_dim=c["prompt_dim"], image_embedding_size=(grid, grid),
            input_image_size=(c["img_size"], c["img_size"]), mask_in_chans=c["mask_in_chans"]),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=c["prompt_dim"],
                                          mlp_dim=c["dec_mlp"], num_heads=c["dec_heads"]),
            transformer_dim=c["prompt_dim"], iou_head_depth=3,
            iou_head_hidden_dim=c["iou_hidden"]),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
ref = torch.load(sys.argv[3])
image = ref["sam.raw_image"].permute(1, 2, 0).round().to(torch.uint8).numpy()
def predict(weights):
    sam = build()
    sam.load_state_dict(torch.load(weights), strict=True)
    predictor = SamPredictor(sam.eval())
    predictor.set_image(image)
    return predictor.predict(
        point_coords=ref["sam.orig_points"][0].numpy(), point_labels=np.array([1, 0]),
        box=ref["sam.orig_box"][0].numpy(), multimask_output=True, return_logits=True)
ours, source = predict(sys.argv[1]), predict(sys.argv[4])
def err(out, key):
    r = ref[key].double()
    return float((torch.as_tensor(out).double() - r).abs().max() / max(1.0, float(r.abs().max())))
masks, iou, low_res = ours
print(json.dumps({"same": all(np.array_equal(a, b) for a, b in zip(ours, source)),
                  "iou": err(iou[None], "sam.iou"), "low_res": err(low_res[None], "sam.low_res_logits"),
                  "logits": err(masks[None], "sam.logits_full")}))
)");
  const auto errors = nlohmann::json::parse(
      support::run_python(script + " " + out + " " + config_ + " " + io_ + " " + golden_));
  EXPECT_TRUE(errors["same"].get<bool>()) << "psam's export and its source predict differently";
  for (const char* key : {"iou", "low_res", "logits"})
    EXPECT_LE(errors[key].get<double>(), 2e-2) << key << " (relative max error)";
}

TEST_F(ExportCommand, FailuresGiveOneLineAndWriteNothing) {
  const auto out = tmp_.file("never.pth");
  const auto expect_nothing_written = [&](const std::string& what) {
    const auto err = err_.str();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << what << err;
    for (const auto& entry : fs::directory_iterator(tmp_.path()))
      EXPECT_EQ(entry.path().filename().string().rfind("never", 0), std::string::npos)
          << what << ": " << entry.path();
  };
  // A truncated checkpoint.
  const auto bytes = read_file(golden_);
  const auto corrupt = tmp_.write("corrupt.pth", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(run({"export", corrupt, "--out", out}), 0);
  expect_nothing_written("corrupt");
  // Weights of another shape than --model says.
  EXPECT_NE(run({"export", golden_, "--out", out, "--model", "vit_b"}), 0);
  EXPECT_NE(err_.str().find("shape mismatch"), std::string::npos) << err_.str();
  expect_nothing_written("vit_b");
  // A plain SAM has no latent nets for --part full.
  EXPECT_NE(run({"export", golden_, "--out", out, "--part", "full"}), 0);
  EXPECT_NE(err_.str().find("--part full: " + golden_ + " (prob_sam) exports psam, sam"),
            std::string::npos)
      << err_.str();
  expect_nothing_written("full");
  // An empty directory is no run.
  fs::create_directories(tmp_.path() + "/empty_run");
  EXPECT_NE(run({"export", tmp_.path() + "/empty_run", "--out", out}), 0);
  EXPECT_NE(err_.str().find("without checkpoints/best.pt"), std::string::npos) << err_.str();
  expect_nothing_written("empty run");
}

}  // namespace
}  // namespace psam
