#include "psam/io/dtype.h"

#include <array>

#include "psam/util/error.h"

namespace psam::io {
namespace {

constexpr std::array<DtypeInfo, 10> kDtypes{{
    {at::kFloat, "float32", "FloatStorage", "F32", "f4", 4},
    {at::kHalf, "float16", "HalfStorage", "F16", "f2", 2},
    {at::kBFloat16, "bfloat16", "BFloat16Storage", "BF16", "", 2},
    {at::kDouble, "float64", "DoubleStorage", "F64", "f8", 8},
    {at::kLong, "int64", "LongStorage", "I64", "i8", 8},
    {at::kInt, "int32", "IntStorage", "I32", "i4", 4},
    {at::kShort, "int16", "ShortStorage", "I16", "i2", 2},
    {at::kChar, "int8", "CharStorage", "I8", "i1", 1},
    {at::kByte, "uint8", "ByteStorage", "U8", "u1", 1},
    {at::kBool, "bool", "BoolStorage", "BOOL", "b1", 1},
}};

template <typename Match>
const DtypeInfo* find_if(Match match) {
  for (const auto& d : kDtypes)
    if (match(d)) return &d;
  return nullptr;
}

}  // namespace

const DtypeInfo* find_dtype(at::ScalarType type) {
  return find_if([&](const DtypeInfo& d) { return d.type == type; });
}

const DtypeInfo* find_dtype_by_name(const std::string& name) {
  return find_if([&](const DtypeInfo& d) { return name == d.name; });
}

const DtypeInfo* find_dtype_by_storage(const std::string& storage_class) {
  return find_if([&](const DtypeInfo& d) { return storage_class == d.storage; });
}

const DtypeInfo* find_dtype_by_safetensors(const std::string& code) {
  return find_if([&](const DtypeInfo& d) { return code == d.safetensors; });
}

const DtypeInfo* find_dtype_by_numpy(const std::string& kind_and_size) {
  return find_if([&](const DtypeInfo& d) { return *d.numpy != '\0' && kind_and_size == d.numpy; });
}

const DtypeInfo& dtype_info(at::ScalarType type, const std::string& what) {
  const DtypeInfo* d = find_dtype(type);
  PSAM_CHECK(d != nullptr, what + ": element type " + c10::toString(type) +
                               " is not supported (float32/16/64, bfloat16, int64/32/16/8, "
                               "uint8, bool are)");
  return *d;
}

std::string dtype_name(at::ScalarType type) {
  const DtypeInfo* d = find_dtype(type);
  return d != nullptr ? d->name : c10::toString(type);
}

}  // namespace psam::io
