// Seeded random mutation of UAPI replies and netlink dump datagrams: the
// parsers must return a status for anything, never crash, hang or read out
// of bounds (run under ASan+UBSan). Deterministic: the same seed every run.
// WARDEN_WG_FUZZ_INPUTS overrides the number of inputs (default 1,000,000).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "agent/drivers/wireguard/netlink.h"
#include "agent/drivers/wireguard/uapi.h"
#include "gtest/gtest.h"
#include "tests/unit/wireguard/nl_fixture.h"
#include "tests/unit/wireguard/uapi_fixture.h"

namespace warden::agent::wireguard {
namespace {

using Bytes = std::vector<uint8_t>;

class Mutator {
 public:
  Mutator(uint64_t seed, std::vector<Bytes> tokens) : rng_(seed), tokens_(std::move(tokens)) {}

  size_t Below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  // 1 to 4 random edits of `in`; `corpus` supplies splice material.
  Bytes Mutate(const Bytes& in, const std::vector<Bytes>& corpus) {
    Bytes out = in;
    int edits = 1 + static_cast<int>(Below(4));
    for (int e = 0; e < edits; ++e) {
      switch (Below(9)) {
        case 0:  // flip a bit
          if (!out.empty()) out[Below(out.size())] ^= static_cast<uint8_t>(1u << Below(8));
          break;
        case 1:  // set a byte to an interesting value
          if (!out.empty()) {
            static constexpr uint8_t kValues[] = {0, 1, 0x7f, 0x80, 0xff, '\n', '=', '0', 'f', '/'};
            out[Below(out.size())] = kValues[Below(sizeof(kValues))];
          }
          break;
        case 2:  // set a random byte
          if (!out.empty()) out[Below(out.size())] = static_cast<uint8_t>(Below(256));
          break;
        case 3: {  // delete a range
          if (out.empty()) break;
          size_t at = Below(out.size());
          size_t len = 1 + Below(std::min<size_t>(16, out.size() - at));
          out.erase(out.begin() + at, out.begin() + at + len);
          break;
        }
        case 4: {  // insert a token
          const Bytes& token = tokens_[Below(tokens_.size())];
          out.insert(out.begin() + Below(out.size() + 1), token.begin(), token.end());
          break;
        }
        case 5: {  // duplicate a range
          if (out.empty()) break;
          size_t at = Below(out.size());
          size_t len = 1 + Below(std::min<size_t>(64, out.size() - at));
          Bytes chunk(out.begin() + at, out.begin() + at + len);
          out.insert(out.begin() + Below(out.size() + 1), chunk.begin(), chunk.end());
          break;
        }
        case 6:  // truncate
          out.resize(Below(out.size() + 1));
          break;
        case 7: {  // splice the tail of another corpus entry
          const Bytes& other = corpus[Below(corpus.size())];
          size_t cut = Below(out.size() + 1);
          size_t from = Below(other.size() + 1);
          out.resize(cut);
          out.insert(out.end(), other.begin() + from, other.end());
          break;
        }
        case 8: {  // overwrite an aligned 16-bit field (netlink lengths and types)
          if (out.size() < 2) break;
          size_t at = Below(out.size() / 4 + 1) * 4;
          if (at + 2 > out.size()) at = out.size() - 2;
          static constexpr uint16_t kValues[] = {0, 1, 3, 4, 5, 8, 20, 0x8000, 0xffff};
          uint16_t v = Below(2) ? kValues[Below(9)] : static_cast<uint16_t>(Below(65536));
          std::memcpy(&out[at], &v, 2);
          break;
        }
      }
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<Bytes> tokens_;
};

Bytes ToBytes(absl::string_view s) { return Bytes(s.begin(), s.end()); }

size_t InputsFromEnv() {
  const char* env = std::getenv("WARDEN_WG_FUZZ_INPUTS");
  if (env != nullptr && std::atoll(env) > 0) return static_cast<size_t>(std::atoll(env));
  return 1000000;
}

TEST(WireGuardFuzzTest, SurvivesMutatedUapiRepliesAndNetlinkDumps) {
  const size_t total = InputsFromEnv();
  const auto start = std::chrono::steady_clock::now();

  std::vector<Bytes> uapi_corpus = {
      ToBytes(fixtures::kThreePeerGetReply),
      ToBytes(fixtures::kThreePeerGetReply),  // weighted: no private key, cheap to parse
      ToBytes(fixtures::kWireguardGoGetReply),
      ToBytes("errno=-22\n\n"),
      ToBytes("listen_port=1\nfuture=1\npublic_key=" + std::string(64, '0') +
              "\nallowed_ip=::/0\nallowed_ip=0.0.0.0/0\nendpoint=[::1]:1\nerrno=0\n\n"),
  };
  // The private-key seed costs an X25519 multiplication per parse; keep it
  // rare by dropping its private_key line in most mutations' source.
  Bytes no_private =
      ToBytes(fixtures::kWireguardGoGetReply.substr(fixtures::kWireguardGoGetReply.find('\n') + 1));
  uapi_corpus[2] = no_private;
  uapi_corpus.push_back(ToBytes(fixtures::kWireguardGoGetReply));

  std::vector<Bytes> uapi_tokens = {ToBytes("\n"),
                                    ToBytes("\n\n"),
                                    ToBytes("="),
                                    ToBytes("public_key="),
                                    ToBytes("allowed_ip="),
                                    ToBytes("errno="),
                                    ToBytes("errno=0\n\n"),
                                    ToBytes("-"),
                                    ToBytes(std::string(64, 'a')),
                                    ToBytes("/129"),
                                    ToBytes("99999999999999999999"),
                                    ToBytes("preshared_key="),
                                    ToBytes("listen_port="),
                                    ToBytes("fwmark=")};

  std::vector<Bytes> nl_corpus = fixtures::SplitDumpFixture();
  {
    Bytes all;
    for (const Bytes& d : fixtures::SplitDumpFixture()) all.insert(all.end(), d.begin(), d.end());
    nl_corpus.push_back(all);
    fixtures::NlWriter w;
    w.Error(-19, 7);
    nl_corpus.push_back(w.Take());
  }
  std::vector<Bytes> nl_tokens = {Bytes{4, 0, 0, 0},    Bytes{0xff, 0xff, 0, 0x80},
                                  Bytes{8, 0, 8, 0x80}, Bytes{0x24, 0, 1, 0},
                                  Bytes{0, 0, 0, 0},    Bytes{5, 0, 3, 0, 33, 0, 0, 0}};

  Mutator uapi_mutator(0x5eed0001, uapi_tokens);
  Mutator nl_mutator(0x5eed0002, nl_tokens);
  size_t uapi_inputs = 0, uapi_ok = 0, nl_inputs = 0, nl_ok = 0;

  for (size_t i = 0; i < total; ++i) {
    if (i % 2 == 0) {
      // Mostly the cheap seeds; the private-key seed (last) one time in 64.
      size_t seed = uapi_mutator.Below(64) == 0 ? uapi_corpus.size() - 1
                                                : uapi_mutator.Below(uapi_corpus.size() - 1);
      Bytes input = uapi_mutator.Mutate(uapi_corpus[seed], uapi_corpus);
      absl::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
      if (i % 32 == 0) {
        // Through the incremental reader in random pieces, as from a socket.
        UapiReplyReader reader(4096);
        size_t pos = 0;
        bool failed = false;
        while (pos < text.size() && !reader.complete() && !failed) {
          size_t n = 1 + uapi_mutator.Below(16);
          failed = !reader.Append(text.substr(pos, n)).ok();
          pos += n;
        }
        absl::string_view reply = !failed && reader.complete() ? reader.reply() : text;
        uapi_ok += ParseUapiGet(reply).ok();
      } else {
        uapi_ok += ParseUapiGet(text).ok();
        ParseUapiSetReply(text).IgnoreError();
      }
      ++uapi_inputs;
    } else {
      WgDevice device;
      bool done = false;
      Bytes input = nl_mutator.Mutate(nl_corpus[nl_mutator.Below(nl_corpus.size())], nl_corpus);
      if (i % 16 == 1) {
        // Misaligned input, as the decoder may be handed any pointer.
        Bytes shifted(input.size() + 1);
        std::copy(input.begin(), input.end(), shifted.begin() + 1);
        nl_ok += DecodeGetDeviceMessage(shifted.data() + 1, input.size(), device, done).ok();
      } else {
        nl_ok += DecodeGetDeviceMessage(input.data(), input.size(), device, done).ok();
      }
      if (i % 8 == 1) {
        // A second datagram into the same device: the continuation merge.
        Bytes next = nl_mutator.Mutate(nl_corpus[1], nl_corpus);
        DecodeGetDeviceMessage(next.data(), next.size(), device, done).IgnoreError();
        uint16_t family = 0;
        DecodeGetFamilyReply(input.data(), input.size(), family, done).IgnoreError();
        DecodeAck(input.data(), input.size(), done).IgnoreError();
      }
      ++nl_inputs;
    }
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wireguard fuzz: " << (uapi_inputs + nl_inputs) << " inputs (uapi " << uapi_inputs
            << ", " << uapi_ok << " parsed; netlink " << nl_inputs << ", " << nl_ok
            << " decoded) in " << seconds << " s" << std::endl;
  EXPECT_EQ(uapi_inputs + nl_inputs, total);
  // The mutations are not all fatal: some inputs of each kind still parse.
  EXPECT_GT(uapi_ok, 0u);
  EXPECT_GT(nl_ok, 0u);
}

}  // namespace
}  // namespace warden::agent::wireguard
