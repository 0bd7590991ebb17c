#include "psam/io/npy.h"

#include <fmt/format.h>

#include <cctype>
#include <cstring>

#include "io/byteswap.h"
#include "io/mapped_file.h"
#include "psam/io/dtype.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlign = 64;  // numpy pads the header so the data starts 64-byte aligned

struct Header {
  const DtypeInfo* dtype = nullptr;
  char byteorder = '<';
  bool fortran = false;
  std::vector<int64_t> shape;
};

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), }; this reads exactly that subset.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), s_(text) {}

  Header parse() {
    Header h;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (!peek('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        parse_descr(string_literal(), h);
        has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran = boolean();
        has_order = true;
      } else if (key == "shape") {
        h.shape = int_tuple();
        has_shape = true;
      } else {
        bad("unexpected key '" + key + "'");
      }
      if (!peek('}')) expect(',');
    }
    expect('}');
    if (!has_descr || !has_order || !has_shape) bad("needs descr, fortran_order and shape");
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail(path_ + ": malformed .npy header: " + what);
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void expect(char c) {
    if (!peek(c)) bad(fmt::format("expected '{}' at character {}", c, pos_));
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) bad("expected a string");
    const char quote = s_[pos_++];
    const size_t end = s_.find(quote, pos_);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (s_.substr(pos_, std::strlen(word)) == word) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    bad("expected True or False");
  }
  std::vector<int64_t> int_tuple() {
    std::vector<int64_t> out;
    expect('(');
    while (!peek(')')) {
      skip_space();
      int64_t v = 0;
      const size_t start = pos_;
      for (; pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])); ++pos_)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[pos_] - '0', &v))
          bad("dimension too large");
      if (pos_ == start) bad("expected a dimension");
      out.push_back(v);
      if (!peek(')')) expect(',');
    }
    expect(')');
    return out;
  }
  void parse_descr(const std::string& descr, Header& h) const {
    if (descr.empty() || std::strchr("<>|=", descr[0]) == nullptr)
      bad("descr '" + descr + "' (structured dtypes are not supported)");
    h.byteorder = descr[0];
    h.dtype = find_dtype_by_numpy(descr.substr(1));
    if (h.dtype == nullptr)
      bad("dtype '" + descr + "' is not supported (bool, uint8, int8/16/32/64, float16/32/64 are)");
  }

  const std::string& path_;
  std::string_view s_;
  size_t pos_ = 0;
};

std::string descr_of(const DtypeInfo& d) {
  return std::string(d.itemsize == 1 ? "|" : "<") + d.numpy;
}

// The complete header block (magic, version, length, dict, padding, newline).
std::string make_header(const std::string& path, at::ScalarType dtype,
                        const std::vector<int64_t>& shape) {
  const DtypeInfo& d = dtype_info(dtype, path);
  PSAM_CHECK(*d.numpy != '\0', path + ": numpy has no " + d.name + "; convert to float32 first");
  std::string dims;
  for (int64_t s : shape) dims += std::to_string(s) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (3, 4) but (3,)
  if (shape.size() == 1) dims.resize(dims.size() - 1);
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr_of(d), dims);
  // Version 1 has a 2-byte header length; longer headers (huge ndim) need version 2.
  const bool v2 = dict.size() + kAlign + 1 > 65535;
  const size_t prefix = kMagicSize + 2 + (v2 ? 4 : 2);
  dict.append((kAlign - (prefix + dict.size() + 1) % kAlign) % kAlign, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += v2 ? '\x02' : '\x01';
  out += '\x00';
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i)
    out += static_cast<char>((dict.size() >> (8 * i)) & 0xFF);
  return out + dict;
}

void write_data(std::ostream& out, const at::Tensor& contiguous) {
  out.write(static_cast<const char*>(contiguous.data_ptr()),
            static_cast<std::streamsize>(contiguous.nbytes()));
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  auto file = MappedFile::open(path);
  const uint8_t* p = file->data();
  const size_t size = file->size();
  PSAM_CHECK(size >= kMagicSize + 4 && std::memcmp(p, kMagic, kMagicSize) == 0,
             path + ": not an .npy file (no \\x93NUMPY magic)");
  const uint8_t major = p[kMagicSize];
  PSAM_CHECK(major >= 1 && major <= 3,
             fmt::format("{}: .npy format version {} is not supported", path, major));
  const size_t len_bytes = major == 1 ? 2 : 4;
  PSAM_CHECK(size >= kMagicSize + 2 + len_bytes, path + ": truncated .npy header");
  size_t header_len = 0;
  for (size_t i = 0; i < len_bytes; ++i) header_len |= size_t{p[kMagicSize + 2 + i]} << (8 * i);
  const size_t data_offset = kMagicSize + 2 + len_bytes + header_len;
  PSAM_CHECK(data_offset <= size, path + ": truncated .npy header");
  const Header h =
      HeaderParser(
          path,
          std::string_view(reinterpret_cast<const char*>(p) + data_offset - header_len, header_len))
          .parse();
  PSAM_CHECK(!h.fortran, path +
                             ": Fortran-order arrays are not supported (save with "
                             "np.ascontiguousarray)");
  uint64_t numel = 1;
  for (int64_t s : h.shape)
    PSAM_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(s), &numel),
               path + ": shape overflows");
  uint64_t nbytes = 0;
  PSAM_CHECK(
      !__builtin_mul_overflow(numel, h.dtype->itemsize, &nbytes) && nbytes <= size - data_offset,
      fmt::format("{}: truncated: shape ({}) needs {} data bytes, the file has {}", path,
                  fmt::join(h.shape, ", "), nbytes, size - data_offset));
  const auto options = at::TensorOptions().dtype(h.dtype->type);
  const uint8_t* data = p + data_offset;
  const bool swap = h.byteorder == '>' && h.dtype->itemsize > 1;
  if (numel > 0 && !swap && reinterpret_cast<uintptr_t>(data) % h.dtype->itemsize == 0) {
    // The tensor owns a reference to the mapping; the file stays mapped while it lives.
    return at::from_blob(
        const_cast<uint8_t*>(data), h.shape, [file](void*) {}, options);
  }
  at::Tensor t = at::empty(h.shape, options);
  if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);
  if (swap) byteswap_inplace(t);
  return t;
}

void write_npy(const std::string& path, const at::Tensor& tensor) {
  const at::Tensor t = tensor.detach().cpu().contiguous();
  const std::string header = make_header(path, t.scalar_type(), t.sizes().vec());
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    write_data(out, t);
  });
}

struct NpyWriter::State {
  State(const std::string& path, at::ScalarType dtype, std::vector<int64_t> shape)
      : path(path), dtype(dtype), shape(std::move(shape)), file(path) {}
  std::string path;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  AtomicFile file;
  int64_t rows = 0;
};

NpyWriter::NpyWriter(const std::string& path, at::ScalarType dtype, std::vector<int64_t> shape) {
  PSAM_CHECK(!shape.empty() && shape[0] >= 0,
             path + ": NpyWriter needs a shape with a first (row) dimension");
  for (int64_t s : shape) PSAM_CHECK(s >= 0, path + ": negative dimension in NpyWriter shape");
  const std::string header = make_header(path, dtype, shape);
  state_ = std::make_unique<State>(path, dtype, std::move(shape));
  state_->file.stream().write(header.data(), static_cast<std::streamsize>(header.size()));
}

NpyWriter::~NpyWriter() = default;

void NpyWriter::append(const at::Tensor& rows) {
  State& s = *state_;
  const std::vector<int64_t> row_shape(s.shape.begin() + 1, s.shape.end());
  const auto sizes = rows.sizes().vec();
  const bool one_row = sizes == row_shape;
  const bool many_rows = sizes.size() == s.shape.size() &&
                         std::equal(sizes.begin() + 1, sizes.end(), row_shape.begin());
  PSAM_CHECK(one_row || many_rows,
             fmt::format("{}: rows of shape [{}] do not fit the array's rows [{}]", s.path,
                         fmt::join(sizes, ","), fmt::join(row_shape, ",")));
  PSAM_CHECK(rows.scalar_type() == s.dtype,
             fmt::format("{}: rows are {}, the array is {}", s.path, dtype_name(rows.scalar_type()),
                         dtype_name(s.dtype)));
  const int64_t n = one_row ? 1 : sizes[0];
  PSAM_CHECK(s.rows + n <= s.shape[0],
             fmt::format("{}: more than the declared {} rows", s.path, s.shape[0]));
  write_data(s.file.stream(), rows.detach().cpu().contiguous());
  PSAM_CHECK(s.file.stream().good(), s.path + ": write failed (disk full?)");
  s.rows += n;
}

void NpyWriter::commit() {
  State& s = *state_;
  PSAM_CHECK(s.rows == s.shape[0],
             fmt::format("{}: {} rows written, {} declared", s.path, s.rows, s.shape[0]));
  s.file.commit();
}

}  // namespace psam::io
