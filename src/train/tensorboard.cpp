#include "psam/train/tensorboard.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "psam/util/crc32c.h"
#include "psam/util/error.h"

namespace psam::train {
namespace {

namespace fs = std::filesystem;

// Protobuf wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

// Field numbers of tensorflow.Event, Summary and Summary.Value (event.proto, summary.proto).
constexpr uint32_t kEventWallTime = 1;
constexpr uint32_t kEventStep = 2;
constexpr uint32_t kEventFileVersion = 3;
constexpr uint32_t kEventSummary = 5;
constexpr uint32_t kSummaryValue = 1;
constexpr uint32_t kValueTag = 1;
constexpr uint32_t kValueSimpleValue = 2;

void put_little_endian(std::string& out, uint64_t bits, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFFu));
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7Fu) | 0x80u));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (field << 3) | wire_type);
}

void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed64);
  put_little_endian(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_little_endian(out, bits, 4);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

uint32_t mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::string encode_file_version_event(double wall_time, const std::string& version) {
  std::string event;
  put_double(event, kEventWallTime, wall_time);
  put_bytes(event, kEventFileVersion, version);
  return event;
}

std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag,
                                float value) {
  std::string summary_value;
  put_bytes(summary_value, kValueTag, tag);
  put_float(summary_value, kValueSimpleValue, value);
  std::string summary;
  put_bytes(summary, kSummaryValue, summary_value);

  std::string event;
  put_double(event, kEventWallTime, wall_time);
  if (step != 0) {
    put_key(event, kEventStep, kVarint);
    put_varint(event, static_cast<uint64_t>(step));  // negative int64: ten-byte two's complement
  }
  put_bytes(event, kEventSummary, summary);
  return event;
}

std::string frame_record(const std::string& data) {
  std::string header;
  put_little_endian(header, data.size(), 8);
  std::string record = header;
  put_little_endian(record, mask_crc(crc32c(header.data(), header.size())), 4);
  record += data;
  put_little_endian(record, mask_crc(crc32c(data.data(), data.size())), 4);
  return record;
}

struct SummaryWriter::State {
  std::string path;
  std::ofstream file;
  std::mutex mutex;

  void write(const std::string& event) {
    const std::string record = frame_record(event);
    file.write(record.data(), static_cast<std::streamsize>(record.size()));
    file.flush();
    PSAM_CHECK(file.good(), fmt::format("TensorBoard event file {}: write failed", path));
  }
};

SummaryWriter::SummaryWriter(const std::string& log_dir) : state_(std::make_unique<State>()) {
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  PSAM_CHECK(
      fs::is_directory(log_dir),
      fmt::format("TensorBoard log directory {}: cannot create it ({})", log_dir, ec.message()));
  const double wall_time = now_seconds();
  const std::string base =
      (fs::path(log_dir) /
       fmt::format("events.out.tfevents.{}.{}", static_cast<int64_t>(wall_time), host_name()))
          .string();
  state_->path = base;
  for (int k = 1; fs::exists(state_->path); ++k) state_->path = fmt::format("{}.{}", base, k);
  state_->file.open(state_->path, std::ios::binary | std::ios::out);
  PSAM_CHECK(state_->file.is_open(),
             fmt::format("TensorBoard event file {}: cannot open for writing", state_->path));
  state_->write(encode_file_version_event(wall_time, "brain.Event:2"));
}

SummaryWriter::~SummaryWriter() = default;

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  add_scalar(tag, value, step, now_seconds());
}

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step,
                               double wall_time) {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  state_->write(encode_scalar_event(wall_time, step, tag, static_cast<float>(value)));
}

const std::string& SummaryWriter::path() const { return state_->path; }

}  // namespace psam::train
