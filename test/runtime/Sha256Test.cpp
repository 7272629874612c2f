//===- Sha256Test.cpp - SHA-256 against the FIPS 180-4 / NIST vectors -----===//

#include "Sha256.h"

#include <gtest/gtest.h>

#include <string>

using deltajit::Sha256;

TEST(Sha256, EmptyString) {
  EXPECT_EQ(Sha256::hexHash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, Abc) {
  EXPECT_EQ(Sha256::hexHash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, TwoBlockMessage448Bits) {
  EXPECT_EQ(Sha256::hexHash(
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, Message896Bits) {
  EXPECT_EQ(Sha256::hexHash("abcdefghbcdefghicdefghijdefghijkefghijklfghijklm"
                            "ghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                            "mnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, OneMillionA) {
  EXPECT_EQ(Sha256::hexHash(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundaries) {
  // Lengths around the 55/56/64-byte padding boundaries, computed with
  // coreutils sha256sum.
  EXPECT_EQ(Sha256::hexHash(std::string(55, 'x')),
            "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
  EXPECT_EQ(Sha256::hexHash(std::string(56, 'x')),
            "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
  EXPECT_EQ(Sha256::hexHash(std::string(64, 'x')),
            "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string msg;
  for (int i = 0; i < 1000; ++i)
    msg.push_back(static_cast<char>(i * 7 + 3));
  for (size_t piece : {1u, 3u, 63u, 64u, 65u, 127u, 500u}) {
    Sha256 h;
    for (size_t at = 0; at < msg.size(); at += piece)
      h.update(std::string_view(msg).substr(at, piece));
    EXPECT_EQ(Sha256::hex(h.finish()), Sha256::hexHash(msg))
        << "piece size " << piece;
  }
}

TEST(Sha256, LengthFramedFieldsDoNotCollide) {
  Sha256 a, b;
  a.updateField("ab");
  a.updateField("c");
  b.updateField("a");
  b.updateField("bc");
  EXPECT_NE(Sha256::hex(a.finish()), Sha256::hex(b.finish()));
}
