#include "psam/io/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "psam/io/dtype.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::io {
namespace {

using Json = nlohmann::ordered_json;

// The reference implementation refuses headers above 100 MB; so do we, before parsing.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct Entry {
  std::string name;
  const DtypeInfo* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // relative to the start of the data section
};

uint64_t unsigned_field(const std::string& where, const Json& v) {
  PSAM_CHECK(v.is_number_unsigned(), where + ": expected a non-negative integer");
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& path, const std::string& name, const Json& v,
                  uint64_t data_size) {
  const std::string where = path + ": tensor '" + name + "'";
  PSAM_CHECK(
      v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
      where + ": expected an object with dtype, shape and data_offsets");
  PSAM_CHECK(v["dtype"].is_string(), where + ": dtype must be a string");
  Entry e{name, find_dtype_by_safetensors(v["dtype"].get<std::string>()), {}, 0, 0};
  PSAM_CHECK(e.dtype != nullptr,
             where + ": dtype " + v["dtype"].get<std::string>() +
                 " is not supported (F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL are)");
  PSAM_CHECK(v["shape"].is_array(), where + ": shape must be an array");
  uint64_t numel = 1;
  for (const auto& s : v["shape"]) {
    const uint64_t dim = unsigned_field(where + " shape", s);
    PSAM_CHECK(dim <= INT64_MAX && !__builtin_mul_overflow(numel, dim, &numel),
               where + ": shape overflows");
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  const Json& offsets = v["data_offsets"];
  PSAM_CHECK(offsets.is_array() && offsets.size() == 2,
             where + ": data_offsets must be [begin, end]");
  e.begin = unsigned_field(where + " data_offsets", offsets[0]);
  e.end = unsigned_field(where + " data_offsets", offsets[1]);
  PSAM_CHECK(e.begin <= e.end && e.end <= data_size,
             fmt::format("{}: data_offsets [{}, {}] lie outside the {} bytes of data", where,
                         e.begin, e.end, data_size));
  uint64_t nbytes = 0;
  PSAM_CHECK(
      !__builtin_mul_overflow(numel, e.dtype->itemsize, &nbytes) && nbytes == e.end - e.begin,
      fmt::format("{}: shape [{}] of {} needs {} bytes, data_offsets give {}", where,
                  fmt::join(e.shape, ","), e.dtype->safetensors, nbytes, e.end - e.begin));
  return e;
}

}  // namespace

Safetensors read_safetensors(const std::string& path) {
  const auto file = MappedFile::open(path);
  const size_t size = file->size();
  PSAM_CHECK(size >= 8, path + ": too short for a safetensors file (no 8-byte header length)");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | file->data()[i];
  PSAM_CHECK(header_size <= size - 8,
             fmt::format("{}: safetensors header length {} goes beyond the end of the file ({} "
                         "bytes)",
                         path, header_size, size));
  PSAM_CHECK(
      header_size <= kMaxHeaderBytes,
      fmt::format("{}: safetensors header of {} bytes is larger than 100 MB", path, header_size));
  const char* header_begin = reinterpret_cast<const char*>(file->data()) + 8;
  Json header;
  try {
    header = Json::parse(header_begin, header_begin + header_size);
  } catch (const Json::exception& e) {
    fail(path + ": safetensors header is not valid JSON: " + e.what());
  }
  PSAM_CHECK(header.is_object(), path + ": safetensors header must be a JSON object");

  Safetensors out;
  const uint64_t data_size = size - 8 - header_size;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      PSAM_CHECK(value.is_object(), path + ": __metadata__ must be an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        PSAM_CHECK(mv.is_string(), path + ": __metadata__ value of '" + mk + "' is not a string");
        out.metadata[mk] = mv.get<std::string>();
      }
    } else {
      entries.push_back(parse_entry(path, key, value, data_size));
    }
  }
  // In file order; then neighbours must not overlap.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i)
    PSAM_CHECK(entries[i].begin >= entries[i - 1].end, path + ": data of tensors '" +
                                                           entries[i - 1].name + "' and '" +
                                                           entries[i].name + "' overlap");
  const uint8_t* data = file->data() + 8 + header_size;
  for (const auto& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype->type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data + e.begin, e.end - e.begin);
    out.tensors.insert(e.name, t);
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorDict& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    PSAM_CHECK(name != "__metadata__", path + ": a tensor cannot be named __metadata__");
    const DtypeInfo& d = dtype_info(tensor.scalar_type(), path + ": tensor '" + name + "'");
    contiguous.push_back(tensor.detach().cpu().contiguous());
    const uint64_t nbytes = contiguous.back().nbytes();
    header[name] = {{"dtype", d.safetensors},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  // Padding to 8 bytes keeps every tensor's data aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  write_file_atomic(path, [&](std::ostream& out) {
    char size_le[8];
    for (int i = 0; i < 8; ++i) size_le[i] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
    out.write(size_le, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : contiguous)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  });
}

}  // namespace psam::io
