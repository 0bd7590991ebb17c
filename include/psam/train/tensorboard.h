// TensorBoard scalar logging without TensorFlow or protobuf: event files of TFRecord records
// holding hand-encoded tensorflow.Event messages, readable by `tensorboard --logdir`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace psam::train {

// Appends scalars to a new events.out.tfevents.<unix seconds>.<host> file in log_dir (created
// if missing; a numeric suffix is added if that name exists). The first record is the
// "brain.Event:2" file-version event. Every add_scalar is flushed, so a crash loses at most the
// record being written, and TensorBoard ignores a truncated last record. Thread-safe.
class SummaryWriter {
 public:
  explicit SummaryWriter(const std::string& log_dir);
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  // TensorBoard stores simple_value as float32. wall_time in seconds since the Unix epoch;
  // the overload without it uses the current time.
  void add_scalar(const std::string& tag, double value, int64_t step);
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time);

  const std::string& path() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The pieces, exposed for tests and for tools that build event files themselves.
// Event{wall_time, file_version}:
std::string encode_file_version_event(double wall_time, const std::string& version);
// Event{wall_time, step, summary{value{tag, simple_value}}} (step omitted when 0, as proto3 does):
std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag,
                                float value);
// TFRecord framing: uint64 length, masked CRC-32C of the length, data, masked CRC-32C of data
// (integers little-endian).
std::string frame_record(const std::string& data);
// TFRecord's CRC mask: rotate right by 15 bits and add 0xa282ead8.
uint32_t mask_crc(uint32_t crc);

}  // namespace psam::train
