#include "psam/io/image.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>

#include "io/image_header.h"
#include "psam/io/dtype.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

#ifdef PSAM_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace psam::io {

#ifdef PSAM_HAVE_OPENCV

// Larger images are refused before decoding (8192 x 8192 is 2^26): far above what SAM's 1024
// input needs, and a bound on the memory a hostile header can make psam allocate.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

at::Tensor read_image(const std::string& path) {
  const std::string bytes = read_file(path);
  const auto header = read_image_header(bytes);
  PSAM_CHECK(header, path + ": not a PNG, JPEG, BMP or TIFF image (or its header is cut short)");
  PSAM_CHECK(header->width > 0 && header->height > 0 && header->width <= kMaxImagePixels &&
                 header->height <= kMaxImagePixels / header->width,
             fmt::format("{}: {} image of {} x {} pixels; psam reads images of 1 to {} pixels "
                         "(8192 x 8192)",
                         path, header->format, header->width, header->height, kMaxImagePixels));
  cv::Mat image;
  try {
    const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
    image = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail(path + ": cannot decode image: " + e.what());
  }
  PSAM_CHECK(!image.empty(), path + ": not an image OpenCV can decode");
  PSAM_CHECK(image.depth() == CV_8U || image.depth() == CV_16U,
             path + ": only 8-bit and 16-bit integer images are read (convert this one)");
  cv::Mat pixels;
  switch (image.channels()) {
    case 1:
      pixels = image;
      break;
    case 2:  // grey + alpha
      cv::extractChannel(image, pixels, 0);
      break;
    case 3:
      cv::cvtColor(image, pixels, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(image, pixels, cv::COLOR_BGRA2RGB);
      break;
    default:
      fail(fmt::format("{}: {} channels (expected 1, 2, 3 or 4)", path, image.channels()));
  }
  const int64_t c = pixels.channels();
  if (pixels.depth() == CV_16U) pixels.convertTo(pixels, CV_32S);
  const at::ScalarType type = pixels.depth() == CV_8U ? at::kByte : at::kInt;
  at::Tensor out = at::empty({pixels.rows, pixels.cols, c}, type);
  const size_t row_bytes = static_cast<size_t>(pixels.cols) * c * pixels.elemSize1();
  for (int r = 0; r < pixels.rows; ++r) std::memcpy(out[r].data_ptr(), pixels.ptr(r), row_bytes);
  return out;
}

at::Tensor read_image_rgb(const std::string& path) {
  const at::Tensor image = read_image(path);
  PSAM_CHECK(image.scalar_type() == at::kByte,
             path + ": only 8-bit images are read here (this one has 16-bit samples; convert it)");
  return image.size(2) == 3 ? image : image.expand({-1, -1, 3}).contiguous();
}

void write_image(const std::string& path, const at::Tensor& image) {
  PSAM_CHECK(image.scalar_type() == at::kByte &&
                 (image.dim() == 2 || (image.dim() == 3 && image.size(2) == 3)),
             path + ": write_image expects uint8 [H,W] or [H,W,3], got " +
                 dtype_name(image.scalar_type()) + " " + c10::str(image.sizes()));
  const at::Tensor t = image.detach().cpu().contiguous();
  const int channels = t.dim() == 2 ? 1 : 3;
  cv::Mat mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC(channels),
              t.data_ptr());
  cv::Mat encoded_input;
  if (channels == 3) {
    cv::cvtColor(mat, encoded_input, cv::COLOR_RGB2BGR);
  } else {
    encoded_input = mat;
  }
  const std::string ext = std::filesystem::path(path).extension().string();
  std::vector<uchar> buffer;
  try {
    PSAM_CHECK(!ext.empty() && cv::imencode(ext, encoded_input, buffer),
               path + ": cannot encode an image for extension '" + ext + "'");
  } catch (const cv::Exception& e) {
    fail(path + ": cannot encode an image for extension '" + ext + "': " + e.what());
  }
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(buffer.data()),
              static_cast<std::streamsize>(buffer.size()));
  });
}

#else

at::Tensor read_image(const std::string& path) {
  fail(path + ": psam was built without OpenCV (PSAM_WITH_OPENCV=OFF), so images cannot be read");
}

at::Tensor read_image_rgb(const std::string& path) {
  fail(path + ": psam was built without OpenCV (PSAM_WITH_OPENCV=OFF), so images cannot be read");
}

void write_image(const std::string& path, const at::Tensor&) {
  fail(path +
       ": psam was built without OpenCV (PSAM_WITH_OPENCV=OFF), so images cannot be written");
}

#endif

}  // namespace psam::io
