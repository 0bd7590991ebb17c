#include "psam/io/pth.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>

#include "io/mapped_file.h"
#include "io/zip_directory.h"
#include "psam/io/format.h"
#include "psam/io/safetensors.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"

namespace psam::io {
namespace {

std::string first_line(const c10::Error& e) {
  const std::string what = e.what_without_backtrace();
  return what.substr(0, what.find('\n'));
}

void check_is_torch_zip(const std::string& path) {
  switch (detect_format(path)) {
    case FileFormat::kTorchZip:
      return;
    case FileFormat::kTorchLegacy:
      fail(path +
           ": legacy torch.save format (before PyTorch 1.6), which psam does not read; "
           "re-save it with a newer torch: torch.save(torch.load(f), f2)");
    case FileFormat::kSafetensors:
      fail(path + ": is a safetensors file, not a torch zip archive (use read_tensors)");
    default:
      fail(path + ": not a torch zip archive (expected a file written by torch.save)");
  }
}

void flatten_into(const std::string& prefix, const c10::IValue& v, TensorDict& out) {
  auto child = [&](const std::string& key) { return prefix.empty() ? key : prefix + "." + key; };
  if (v.isTensor()) {
    out.insert(prefix, v.toTensor());
  } else if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) {
      const c10::IValue& k = entry.key();
      if (k.isString() || k.isInt())
        flatten_into(child(k.isString() ? k.toStringRef() : std::to_string(k.toInt())),
                     entry.value(), out);
    }
  } else if (v.isList() || v.isTuple()) {
    const auto items = v.isList() ? v.toListRef() : v.toTupleRef().elements();
    for (size_t i = 0; i < items.size(); ++i) flatten_into(child(std::to_string(i)), items[i], out);
  }
}

}  // namespace

c10::IValue read_pth(const std::string& path, DictNotes* notes) {
  check_is_torch_zip(path);
  {
    // Each record's claimed size, checked before libtorch's reader allocates that much.
    const auto file = MappedFile::open(path);
    read_zip_directory(path, file->data(), file->size());
  }
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    PSAM_CHECK(!reader.hasRecord("constants.pkl"),
               path +
                   ": a TorchScript archive (torch.jit.save), not a checkpoint; in Python, "
                   "torch.save(torch.jit.load(f).state_dict(), f2) gives one psam reads");
    PSAM_CHECK(reader.hasRecord("data.pkl"), path + ": zip archive without data.pkl");
    const auto [pickle_data, pickle_size] = reader.getRecord("data.pkl");
    const StorageLoader load_storage = [&](const StorageRequest& request) {
      const std::string record = "data/" + request.key;
      PSAM_CHECK(reader.hasRecord(record), path + ": record " + record + " is missing");
      auto [data, size] = reader.getRecord(record);
      return at::Storage(at::Storage::use_byte_size_t(), size, std::move(data),
                         /*allocator=*/nullptr, /*resizable=*/false);
    };
    UnpickleOptions options;
    options.allow_numpy = true;
    options.source = path;
    options.notes = notes;
    return unpickle(static_cast<const uint8_t*>(pickle_data.get()), pickle_size, load_storage,
                    options);
  } catch (const c10::Error& e) {
    fail(path + ": damaged torch zip archive: " + first_line(e));
  } catch (const std::bad_alloc&) {
    fail(path + ": damaged torch zip archive: a record claims more memory than is available");
  }
}

TensorDict flatten_tensors(const c10::IValue& obj) {
  TensorDict out;
  flatten_into("", obj, out);
  return out;
}

TensorDict read_tensors(const std::string& path) {
  switch (detect_format(path)) {
    case FileFormat::kSafetensors:
      return read_safetensors(path).tensors;
    case FileFormat::kNpy:
      fail(path + ": an .npy array, not a checkpoint (expected a .pth/.pt or .safetensors file)");
    default:
      return flatten_tensors(read_pth(path));
  }
}

void write_pth(const std::string& path, const c10::IValue& obj) {
  std::vector<at::Tensor> tensors;  // contiguous CPU copies, in the order of their record keys
  const std::string data = pickle(obj, [&](const at::Tensor& t) {
    tensors.push_back(t);
    return std::to_string(tensors.size() - 1);
  });
  write_file_atomic(path, [&](std::ostream& out) {
    // The writer's destructor finishes the archive and must not meet an I/O error (it would
    // throw from a destructor); write_file_atomic checks the stream once we are done.
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) {
      out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
      return n;
    });
    writer.writeRecord("data.pkl", data.data(), data.size());
    writer.writeRecord("byteorder", "little", 6);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const at::Tensor& t = tensors[i];
      writer.writeRecord(fmt::format("data/{}", i), t.nbytes() > 0 ? t.data_ptr() : "", t.nbytes());
    }
    writer.writeEndOfFile();
  });
}

void write_pth(const std::string& path, const TensorDict& tensors) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor);
  write_pth(path, c10::IValue(dict));
}

}  // namespace psam::io
