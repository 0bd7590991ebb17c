#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "psam/util/hash.h"
#include "support/testing.h"

namespace {

std::string pattern(size_t n) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 31 + 7) % 256);
  return bytes;
}

}  // namespace

// The test vectors published with FIPS 180-4 (NIST's SHA-256 examples).
TEST(Sha256, NistVectors) {
  EXPECT_EQ(psam::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(psam::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(psam::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(psam::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every length around the padding boundaries (55/56/64 bytes and their next block), against
// Python's hashlib.
TEST(Sha256, MatchesPythonHashlibAcrossPaddingBoundaries) {
  if (!psam::support::python_has("hashlib")) GTEST_SKIP() << PSAM_PYTHON " not available";
  psam::support::TempDir dir;
  const std::string script = dir.write("sha.py", R"(
import hashlib
for n in range(0, 200):
    data = bytes((i * 31 + 7) % 256 for i in range(n))
    print(hashlib.sha256(data).hexdigest())
)");
  std::istringstream expected(psam::support::run_python(script));
  std::string line;
  for (size_t n = 0; n < 200; ++n) {
    ASSERT_TRUE(std::getline(expected, line));
    EXPECT_EQ(psam::sha256_hex(pattern(n)), line) << "length " << n;
  }
}
