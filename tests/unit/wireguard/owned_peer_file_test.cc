// The WireGuard driver's record of the peers it owns: written and read back,
// absent on a first start, refused with advice when unusable.

#include "agent/drivers/wireguard/owned_peer_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::agent::wireguard {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class OwnedPeerFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/warden-owned-peers-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = OwnedPeerFilePath(dir_ + "/state", "wg0");
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir((dir_ + "/state").c_str());
    ::rmdir(dir_.c_str());
  }

  std::string dir_;
  std::string path_;
};

TEST_F(OwnedPeerFileTest, NamesTheFileAfterTheInterface) {
  EXPECT_EQ(OwnedPeerFilePath("/var/lib/warden-agent", "wg0"),
            "/var/lib/warden-agent/wireguard-wg0.json");
  EXPECT_EQ(OwnedPeerFilePath("", "wg0"), "") << "no state dir: kept in memory only";
}

TEST_F(OwnedPeerFileTest, ReadsNoPeersOnAFirstStart) {
  absl::StatusOr<std::vector<StoredPeer>> peers = ReadOwnedPeerFile(path_);
  ASSERT_TRUE(peers.ok()) << peers.status();
  EXPECT_THAT(*peers, IsEmpty());
}

TEST_F(OwnedPeerFileTest, ReadsBackWhatItWrote) {
  Key key{};
  key.fill(3);
  StoredPeer peer{.key = key,
                  .spec = PeerSpec{.device_id = "dev-1",
                                   .public_key = KeyToBase64(key),
                                   .allowed_ips = {"10.66.0.7/32"},
                                   .username = "alice"},
                  .withheld = true};
  ASSERT_TRUE(WriteOwnedPeerFile(path_, dir_ + "/state", "wg0", {peer}).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  absl::StatusOr<std::vector<StoredPeer>> read = ReadOwnedPeerFile(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_THAT(*read, SizeIs(1));
  EXPECT_EQ((*read)[0].key, key);
  EXPECT_EQ((*read)[0].spec.username, "alice");
  EXPECT_EQ((*read)[0].spec.device_id, "dev-1");
  EXPECT_EQ((*read)[0].spec.allowed_ips, std::vector<std::string>{"10.66.0.7/32"});
  EXPECT_TRUE((*read)[0].withheld);
}

TEST_F(OwnedPeerFileTest, RefusesAnUnusableFileWithAdvice) {
  ASSERT_EQ(::mkdir((dir_ + "/state").c_str(), 0700), 0);
  for (const char* text : {"not json", R"({"version": 2, "peers": []})",
                           R"({"version": 1, "peers": [{"public_key": "short"}]})"}) {
    std::ofstream(path_) << text;
    absl::StatusOr<std::vector<StoredPeer>> read = ReadOwnedPeerFile(path_);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition) << text;
    EXPECT_THAT(std::string(read.status().message()), HasSubstr("Move it away")) << text;
  }
}

}  // namespace
}  // namespace warden::agent::wireguard
