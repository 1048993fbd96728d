// Unit tests for util/files: the bounded reads of the files a config names.
#include "util/files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_helpers.hpp"

namespace orc::util {
namespace {

TEST(ReadRegularFile, ReadsTheWholeFile) {
  test::TempDir dir;
  std::string content(100000, 'x');
  content += "\nend";
  auto path = dir.write("big.yaml", content);
  std::string error;
  auto got = read_regular_file(path, max_config_file_bytes, error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(*got, content);
}

TEST(ReadRegularFile, AFileAtTheLimitIsReadAndOneByteMoreIsRefused) {
  test::TempDir dir;
  auto at = dir.write("at", std::string(64, 'a'));
  auto over = dir.write("over", std::string(65, 'a'));
  std::string error;
  EXPECT_TRUE(read_regular_file(at, 64, error)) << error;
  EXPECT_FALSE(read_regular_file(over, 64, error));
  EXPECT_EQ(error, "larger than 64 bytes");
}

TEST(ReadRegularFile, MissingFileNamesTheReason) {
  test::TempDir dir;
  std::string error;
  EXPECT_FALSE(read_regular_file(dir.file("missing"), 64, error));
  EXPECT_EQ(error, "cannot open: No such file or directory");
}

TEST(ReadRegularFile, DirectoriesDevicesAndFifosAreRefusedWithoutBlocking) {
  test::TempDir dir;
  std::string error;
  EXPECT_FALSE(read_regular_file(dir.path().string(), 64, error));
  EXPECT_EQ(error, "not a regular file");
  error.clear();
  EXPECT_FALSE(read_regular_file("/dev/zero", 64, error));  // endless: must not be read
  EXPECT_EQ(error, "not a regular file");
  // A FIFO with no writer: a blocking open would wait forever.
  auto fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  error.clear();
  EXPECT_FALSE(read_regular_file(fifo, 64, error));
  EXPECT_EQ(error, "not a regular file");
}

}  // namespace
}  // namespace orc::util
