// TensorBoard event files: CRC-32C check vectors, the exact bytes of one record, a round trip
// through a reader written here, and (when python3-protobuf is installed) protobuf's own parser.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "psam/train/tensorboard.h"
#include "psam/util/crc32c.h"
#include "psam/util/error.h"
#include "psam/util/fs.h"
#include "support/testing.h"

namespace psam::train {
namespace {

namespace fs = std::filesystem;

TEST(Crc32c, CheckVectors) {
  // The CRC catalogue's check value and the iSCSI test vectors of RFC 3720, B.4.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::array<unsigned char, 32> bytes{};
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x8A9136AAu);
  bytes.fill(0xFF);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x46DD794Eu);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, ContinuesOverSplitData) {
  const char* text = "123456789";
  EXPECT_EQ(crc32c(text + 4, 5, crc32c(text, 4)), 0xE3069283u);
}

TEST(TensorBoard, OneRecordByteForByte) {
  // Event{wall_time: 1.5, step: 3, summary{value{tag: "loss", simple_value: 0.25}}} framed as a
  // TFRecord. Built by hand from the wire format; the CRCs come from a bit-by-bit CRC-32C.
  const std::vector<unsigned char> expected = {
      0x1a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,        // length 26, little-endian uint64
      0x12, 0x9b, 0xd8, 0x2d,                                // masked CRC-32C of the length
      0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f,  // field 1, fixed64: 1.5
      0x10, 0x03,                                            // field 2, varint: 3
      0x2a, 0x0d,                                            // field 5 (summary), 13 bytes
      0x0a, 0x0b,                                            //   field 1 (value), 11 bytes
      0x0a, 0x04, 0x6c, 0x6f, 0x73, 0x73,                    //     field 1 (tag): "loss"
      0x15, 0x00, 0x00, 0x80, 0x3e,                          //     field 2, fixed32: 0.25f
      0xd0, 0x54, 0xb2, 0x55};                               // masked CRC-32C of the data
  const std::string record = frame_record(encode_scalar_event(1.5, 3, "loss", 0.25f));
  EXPECT_EQ(std::vector<unsigned char>(record.begin(), record.end()), expected);
}

TEST(TensorBoard, MaskCrcMatchesDefinition) {
  EXPECT_EQ(mask_crc(0), 0xa282ead8u);
  EXPECT_EQ(mask_crc(1u << 15), 1u + 0xa282ead8u);
  EXPECT_EQ(mask_crc(1), (1u << 17) + 0xa282ead8u);
}

// ---- a minimal reader of what SummaryWriter writes --------------------------------------

struct DecodedEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> values;
};

class Cursor {
 public:
  explicit Cursor(const std::string& bytes) : bytes_(bytes) {}
  bool done() const { return pos_ == bytes_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto b = static_cast<unsigned char>(take(1)[0]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  uint64_t little_endian(int n) {
    const std::string b = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[i]);
    return v;
  }
  std::string take(size_t n) {
    PSAM_CHECK(pos_ + n <= bytes_.size(), "reader: truncated data");
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

// Calls on_field(field, wire_type, cursor) for every field of a message; the callback consumes it.
template <typename F>
void for_each_field(const std::string& message, F on_field) {
  Cursor c(message);
  while (!c.done()) {
    const uint64_t key = c.varint();
    on_field(static_cast<int>(key >> 3), static_cast<int>(key & 7), c);
  }
}

DecodedEvent decode_event(const std::string& bytes) {
  DecodedEvent e;
  for_each_field(bytes, [&](int field, int wire, Cursor& c) {
    if (field == 1 && wire == 1) {
      const uint64_t bits = c.little_endian(8);
      std::memcpy(&e.wall_time, &bits, 8);
    } else if (field == 2 && wire == 0) {
      e.step = static_cast<int64_t>(c.varint());
    } else if (field == 3 && wire == 2) {
      e.file_version = c.take(c.varint());
    } else if (field == 5 && wire == 2) {
      for_each_field(c.take(c.varint()), [&](int f, int w, Cursor& cs) {
        ASSERT_TRUE(f == 1 && w == 2) << "Summary field " << f;
        std::pair<std::string, float> value;
        for_each_field(cs.take(cs.varint()), [&](int fv, int wv, Cursor& cv) {
          if (fv == 1 && wv == 2) {
            value.first = cv.take(cv.varint());
          } else {
            ASSERT_TRUE(fv == 2 && wv == 5) << "Summary.Value field " << fv;
            const auto bits = static_cast<uint32_t>(cv.little_endian(4));
            std::memcpy(&value.second, &bits, 4);
          }
        });
        e.values.push_back(value);
      });
    } else {
      ADD_FAILURE() << "unexpected Event field " << field << " wire type " << wire;
      c.take(c.varint());
    }
  });
  return e;
}

// Splits a TFRecord file into its records, checking both CRCs of each.
std::vector<std::string> read_records(const std::string& path) {
  Cursor c(psam::read_file(path));
  std::vector<std::string> records;
  while (!c.done()) {
    const std::string header = c.take(8);
    EXPECT_EQ(Cursor(c.take(4)).little_endian(4), mask_crc(crc32c(header.data(), 8)));
    const std::string data = c.take(Cursor(header).little_endian(8));
    EXPECT_EQ(Cursor(c.take(4)).little_endian(4), mask_crc(crc32c(data.data(), data.size())));
    records.push_back(data);
  }
  return records;
}

class TensorBoardFile : public ::testing::Test {
 protected:
  // Writes the scalars used by the tests; returns the file path.
  std::string write_sample_file() {
    SummaryWriter w((dir_ / "run").string());
    w.add_scalar("train/loss", 0.75, 0, 1000.25);
    w.add_scalar("train/loss", 0.5, 1, 1001.5);
    w.add_scalar("val/ged", 0.3125, 1, 1002.0);
    w.add_scalar("lr", 1e-4, 123456789012, 1003.0);
    w.add_scalar("neg", -2.0, -1, 1004.0);
    return w.path();
  }

  support::TempDir tmp_;
  fs::path dir_ = tmp_.path();
};

TEST_F(TensorBoardFile, NameAndRoundTrip) {
  const std::string path = write_sample_file();
  EXPECT_EQ(fs::path(path).parent_path(), dir_ / "run");
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u) << path;

  const auto records = read_records(path);
  ASSERT_EQ(records.size(), 6u);
  const DecodedEvent first = decode_event(records[0]);
  EXPECT_EQ(first.file_version, "brain.Event:2");
  EXPECT_TRUE(first.values.empty());
  EXPECT_GT(first.wall_time, 1.6e9);  // the writer's creation time, in seconds

  const DecodedEvent e1 = decode_event(records[1]);
  EXPECT_EQ(e1.wall_time, 1000.25);
  EXPECT_EQ(e1.step, 0);
  ASSERT_EQ(e1.values.size(), 1u);
  EXPECT_EQ(e1.values[0].first, "train/loss");
  EXPECT_EQ(e1.values[0].second, 0.75f);
  const DecodedEvent e3 = decode_event(records[3]);
  EXPECT_EQ(e3.step, 1);
  EXPECT_EQ(e3.values[0].first, "val/ged");
  EXPECT_EQ(e3.values[0].second, 0.3125f);
  const DecodedEvent e4 = decode_event(records[4]);
  EXPECT_EQ(e4.step, 123456789012);
  EXPECT_EQ(e4.values[0].second, 1e-4f);
  EXPECT_EQ(decode_event(records[5]).step, -1);
}

TEST_F(TensorBoardFile, SecondWriterGetsItsOwnFile) {
  SummaryWriter a(dir_.string());
  SummaryWriter b(dir_.string());
  EXPECT_NE(a.path(), b.path());
  a.add_scalar("x", 1.0, 1);
  b.add_scalar("x", 2.0, 1);
  EXPECT_EQ(read_records(a.path()).size(), 2u);
  EXPECT_EQ(read_records(b.path()).size(), 2u);
}

TEST_F(TensorBoardFile, UnwritableDirectoryIsAClearError) {
  tmp_.write("file", "x");
  try {
    SummaryWriter w((dir_ / "file" / "sub").string());
    FAIL() << "no error";
  } catch (const psam::Error& e) {
    EXPECT_NE(std::string(e.what()).find("log directory"), std::string::npos) << e.what();
  }
}

// Protobuf's own parser, with the Event / Summary messages declared from their field numbers:
// the file must parse, and re-serialising each event must give back exactly the bytes written.
constexpr const char* kProtobufReader = R"PY(
import json, struct, sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
F = descriptor_pb2.FieldDescriptorProto
fdp = descriptor_pb2.FileDescriptorProto(name="event.proto", package="tensorflow", syntax="proto3")
summary = fdp.message_type.add(name="Summary")
value = summary.nested_type.add(name="Value")
value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                  type_name=".tensorflow.Summary.Value")
event = fdp.message_type.add(name="Event")
event.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
event.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
event.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
event.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                type_name=".tensorflow.Summary")
pool = descriptor_pool.DescriptorPool()
pool.Add(fdp)
desc = pool.FindMessageTypeByName("tensorflow.Event")
Event = (message_factory.GetMessageClass(desc) if hasattr(message_factory, "GetMessageClass")
         else message_factory.MessageFactory(pool).GetPrototype(desc))
data = open(sys.argv[1], "rb").read()
pos, out = 0, []
while pos < len(data):
    (n,) = struct.unpack_from("<Q", data, pos)
    payload = data[pos + 12 : pos + 12 + n]
    pos += 12 + n + 4
    ev = Event()
    ev.ParseFromString(payload)
    assert ev.SerializeToString() == payload, "re-serialised event differs"
    out.append({"wall_time": ev.wall_time, "step": ev.step, "file_version": ev.file_version,
                "values": [[v.tag, v.simple_value] for v in ev.summary.value]})
print(json.dumps(out))
)PY";

TEST_F(TensorBoardFile, ProtobufParsesTheFile) {
  if (!support::python_has("google.protobuf")) {
    GTEST_SKIP() << PSAM_PYTHON << " has no google.protobuf (Debian package python3-protobuf)";
  }
  const std::string path = write_sample_file();
  const std::string output =
      support::run_python(tmp_.write("read_events.py", kProtobufReader) + " " + path);
  const auto events = nlohmann::json::parse(output);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0]["file_version"], "brain.Event:2");
  EXPECT_EQ(events[1]["wall_time"], 1000.25);
  EXPECT_EQ(events[1]["values"][0][0], "train/loss");
  EXPECT_EQ(events[1]["values"][0][1], 0.75);
  EXPECT_EQ(events[2]["step"], 1);
  EXPECT_EQ(events[3]["values"][0][0], "val/ged");
  EXPECT_EQ(events[4]["step"], 123456789012);
  EXPECT_EQ(events[4]["values"][0][1].get<double>(), static_cast<double>(1e-4f));
  EXPECT_EQ(events[5]["step"], -1);
}

}  // namespace
}  // namespace psam::train
