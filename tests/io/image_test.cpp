// Image files through OpenCV, checked against Pillow's decoder and encoder in /usr/bin/python3.
#include <filesystem>

#include "io/io_testing.h"
#include "psam/io/image.h"
#include "psam/io/npy.h"
#include "psam/util/error.h"

namespace {

using psam::testing::TempDir;

#ifdef PSAM_HAVE_OPENCV
#define PSAM_REQUIRE_OPENCV() (void)0
#else
#define PSAM_REQUIRE_OPENCV() GTEST_SKIP() << "built without OpenCV"
#endif

// Pillow's RGB decoding of each file, as .npy, to compare with psam's.
constexpr const char* kPillowDecode = R"PY(
import sys, numpy as np
from PIL import Image
out = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    np.save(f"{out}/{i}.npy", np.asarray(Image.open(path).convert("RGB")))
)PY";

TEST(Image, RealPngsDecodeLikePillow) {
  PSAM_REQUIRE_OPENCV();
  PSAM_REQUIRE_PYTHON();
  const std::string real = std::string(PSAM_SOURCE_DIR) + "/../shared/realdata";
  const std::vector<std::string> files{
      real + "/lidc_71nodules_union_intersection/crops/LIDC-IDRI-0001_1_3000566.png",  // grey
      real + "/lidc_71nodules_union_intersection/crops/LIDC-IDRI-0001_1_3000566_union.png",
      real + "/lidc0221_crops_4readers/images/z-103.5.png",  // RGB false colour
      real + "/lidc0221_crops_4readers/gt/gt-103.51.png"};
  for (const auto& f : files)
    if (!std::filesystem::exists(f)) GTEST_SKIP() << f << " is absent (../shared/realdata)";
  TempDir dir;
  std::vector<std::string> args{dir.path()};
  args.insert(args.end(), files.begin(), files.end());
  std::string output;
  ASSERT_EQ(psam::testing::run_python(kPillowDecode, args, &output), 0) << output;
  for (size_t i = 0; i < files.size(); ++i) {
    const at::Tensor ours = psam::io::read_image_rgb(files[i]);
    EXPECT_TRUE(
        psam::testing::same_tensor(ours, psam::io::read_npy(dir.file(std::to_string(i) + ".npy"))))
        << files[i];
  }
}

TEST(Image, WrittenPngsReadInPillow) {
  PSAM_REQUIRE_OPENCV();
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  const at::Tensor idx = at::arange(20 * 30, at::kLong).reshape({20, 30});
  const at::Tensor grey = (idx * 7 % 256).to(at::kByte);
  const at::Tensor rgb = at::stack({grey, (idx % 256).to(at::kByte), (255 - grey)}, 2);
  psam::io::write_image(dir.file("grey.png"), grey);
  psam::io::write_image(dir.file("rgb.png"), rgb);
  PSAM_EXPECT_PYTHON(R"PY(
import sys, numpy as np
from PIL import Image
out = sys.argv[1]
idx = np.arange(600).reshape(20, 30)
grey = (idx * 7 % 256).astype(np.uint8)
g = np.asarray(Image.open(f"{out}/grey.png"))
assert g.shape == (20, 30) and np.array_equal(g, grey)
rgb = np.asarray(Image.open(f"{out}/rgb.png").convert("RGB"))
assert np.array_equal(rgb, np.stack([grey, (idx % 256).astype(np.uint8), 255 - grey], 2))
)PY",
                     dir.path());
  // Grey files come back replicated to 3 channels.
  const at::Tensor back = psam::io::read_image_rgb(dir.file("grey.png"));
  EXPECT_TRUE(psam::testing::same_tensor(back, at::stack({grey, grey, grey}, 2)));
  EXPECT_TRUE(psam::testing::same_tensor(psam::io::read_image_rgb(dir.file("rgb.png")), rgb));
}

TEST(Image, JpegIsLossyButClose) {
  PSAM_REQUIRE_OPENCV();
  TempDir dir;
  const at::Tensor smooth =
      (at::arange(64, at::kFloat).reshape({8, 8}).repeat({8, 8}) * 3).to(at::kByte);
  const at::Tensor rgb = at::stack({smooth, smooth, smooth}, 2);
  psam::io::write_image(dir.file("x.jpg"), rgb);
  const at::Tensor back = psam::io::read_image_rgb(dir.file("x.jpg"));
  ASSERT_EQ(back.sizes(), rgb.sizes());
  EXPECT_LT((back.to(at::kFloat) - rgb.to(at::kFloat)).abs().mean().item<float>(), 4.0f);
}

TEST(Image, ErrorsAreClear) {
  PSAM_REQUIRE_OPENCV();
  TempDir dir;
  EXPECT_THROW(psam::io::read_image_rgb(dir.file("missing.png")), psam::Error);
  psam::testing::write_bytes(dir.file("text.png"), "not an image");
  EXPECT_THROW(psam::io::read_image_rgb(dir.file("text.png")), psam::Error);
  EXPECT_THROW(psam::io::write_image(dir.file("x.png"), at::ones({4, 4}, at::kFloat)), psam::Error);
  EXPECT_THROW(psam::io::write_image(dir.file("x.png"), at::ones({4, 4, 2}, at::kByte)),
               psam::Error);
  EXPECT_THROW(psam::io::write_image(dir.file("x.unknownext"), at::ones({4, 4}, at::kByte)),
               psam::Error);
  EXPECT_THROW(psam::io::write_image(dir.file("noext"), at::ones({4, 4}, at::kByte)), psam::Error);
  // Nothing but the test's own file was written.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

// read_image keeps what the file stores: 16-bit values (PNG and TIFF), grey as one channel,
// alpha dropped, BMP; Pillow writes the files and is the reference. (OpenCV's PNG decoder
// expands grey + alpha to 4 channels, so such a file comes back as RGB with equal channels.)
TEST(Image, ReadImageKeepsDepthAndChannelsLikePillow) {
  PSAM_REQUIRE_OPENCV();
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(R"PY(
import sys, numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(3)
deep = rng.integers(0, 65536, (9, 13), dtype=np.uint16)
Image.fromarray(deep).save(f"{out}/deep.png")
Image.fromarray(deep).save(f"{out}/deep.tif")
np.save(f"{out}/deep.npy", deep.astype(np.int32)[:, :, None])
rgba = rng.integers(0, 256, (9, 13, 4), dtype=np.uint8)
Image.fromarray(rgba, "RGBA").save(f"{out}/rgba.png")
np.save(f"{out}/rgba.npy", rgba[:, :, :3].copy())
la = rng.integers(0, 256, (9, 13, 2), dtype=np.uint8)
Image.fromarray(la, "LA").save(f"{out}/la.png")
np.save(f"{out}/la.npy", np.repeat(la[:, :, :1], 3, axis=2))
grey = rng.integers(0, 256, (9, 13), dtype=np.uint8)
Image.fromarray(grey).save(f"{out}/grey.bmp")
np.save(f"{out}/grey.npy", grey[:, :, None])
)PY",
                     dir.path());
  for (const auto& [file, reference] :
       std::vector<std::pair<std::string, std::string>>{{"deep.png", "deep.npy"},
                                                        {"deep.tif", "deep.npy"},
                                                        {"rgba.png", "rgba.npy"},
                                                        {"la.png", "la.npy"},
                                                        {"grey.bmp", "grey.npy"}}) {
    const at::Tensor ours = psam::io::read_image(dir.file(file));
    const at::Tensor expected = psam::io::read_npy(dir.file(reference));
    EXPECT_TRUE(psam::testing::same_tensor(ours, expected))
        << file << ": " << ours.sizes() << " " << ours.scalar_type();
  }
}

// Each format psam reads, tall, wide and square: the size found in the header before decoding
// agrees with the decoded image.
TEST(Image, EveryFormatReadsBackAtItsSize) {
  PSAM_REQUIRE_OPENCV();
  TempDir dir;
  for (const char* ext : {"png", "jpg", "bmp", "tiff"}) {
    for (const auto& [h, w] : {std::pair{23, 37}, std::pair{41, 9}, std::pair{16, 16}}) {
      const std::string path = dir.file(std::string("x.") + ext);
      const at::Tensor rgb = at::randint(0, 256, {h, w, 3}, at::kByte);
      psam::io::write_image(path, rgb);
      const at::Tensor back = psam::io::read_image_rgb(path);
      EXPECT_EQ(back.sizes(), (std::vector<int64_t>{h, w, 3})) << ext;
      if (std::string(ext) != "jpg") {
        EXPECT_TRUE(psam::testing::same_tensor(back, rgb)) << ext;
      }
    }
  }
}

// A header claiming 60000 x 60000 pixels (10.8 GB as RGB) is refused before decoding; so are
// formats psam does not read.
TEST(Image, HugeAndUnknownImagesAreRefusedBeforeDecoding) {
  PSAM_REQUIRE_OPENCV();
  TempDir dir;
  auto expect_refused = [&](const std::string& name, const std::string& bytes,
                            const std::string& needle) {
    psam::testing::write_bytes(dir.file(name), bytes);
    try {
      psam::io::read_image_rgb(dir.file(name));
      ADD_FAILURE() << name << " accepted";
    } catch (const psam::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string be60000("\x00\x00\xea\x60", 4);
  expect_refused("huge.png",
                 std::string("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16) + be60000 + be60000 +
                     std::string("\x08\x02\x00\x00\x00\x00\x00\x00\x00", 9),
                 "PNG image of 60000 x 60000 pixels; psam reads images of 1 to 67108864 pixels");
  // JPEG: SOI, an APP0 segment, then a baseline frame header (precision, height, width).
  expect_refused("huge.jpg",
                 std::string("\xff\xd8\xff\xe0\x00\x04JF\xff\xc0\x00\x11\x08", 13) +
                     std::string("\xea\x60\xea\x60\x03", 5) + std::string(9, '\x01'),
                 "JPEG image of 60000 x 60000 pixels");
  expect_refused("empty.png",
                 std::string("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16) + std::string(8, '\0') +
                     std::string(9, '\0'),
                 "PNG image of 0 x 0 pixels");
  expect_refused("x.gif", "GIF89a\x10\x00\x10\x00", "not a PNG, JPEG, BMP or TIFF image");
  expect_refused("cut.png", std::string("\x89PNG\r\n\x1a\n\x00\x00", 10),
                 "not a PNG, JPEG, BMP or TIFF image (or its header is cut short)");
}

TEST(Image, SixteenBitFilesAreRefused) {
  PSAM_REQUIRE_OPENCV();
  PSAM_REQUIRE_PYTHON();
  TempDir dir;
  PSAM_EXPECT_PYTHON(R"PY(
import sys, numpy as np
from PIL import Image
Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(sys.argv[1])
)PY",
                     dir.file("deep.png"));
  try {
    psam::io::read_image_rgb(dir.file("deep.png"));
    FAIL() << "16-bit image accepted";
  } catch (const psam::Error& e) {
    EXPECT_NE(std::string(e.what()).find("8-bit"), std::string::npos) << e.what();
  }
}

}  // namespace
