//===- FormulaTest.cpp - grid/scratch formula parser and evaluator --------===//

#include "Formula.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>

using deltajit::Formula;
using deltajit::FormulaError;

namespace {

int64_t eval(const std::string &text,
             const std::map<std::string, int64_t> &symbols = {}) {
  Formula f = Formula::parse(text);
  return f.evaluate([&](const std::string &name) -> int64_t {
    auto it = symbols.find(name);
    if (it == symbols.end())
      throw FormulaError("symbol '" + name + "' is not bound");
    return it->second;
  });
}

/// The message of the FormulaError that parsing `text` throws ("" if none).
std::string parseError(const std::string &text) {
  try {
    Formula::parse(text);
  } catch (const FormulaError &e) {
    return e.what();
  }
  return "";
}

std::string evalError(const std::string &text,
                      const std::map<std::string, int64_t> &symbols = {}) {
  try {
    eval(text, symbols);
  } catch (const FormulaError &e) {
    return e.what();
  }
  return "";
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

} // namespace

TEST(Formula, LiteralsAndSymbols) {
  EXPECT_EQ(eval("42"), 42);
  EXPECT_EQ(eval("  7 "), 7);
  EXPECT_EQ(eval("T", {{"T", 1000}}), 1000);
  EXPECT_EQ(eval("T_total", {{"T_total", 5}}), 5);
  EXPECT_EQ(eval("9223372036854775807"), kMax);
}

TEST(Formula, Precedence) {
  EXPECT_EQ(eval("1 + 2 * 3"), 7);
  EXPECT_EQ(eval("(1 + 2) * 3"), 9);
  EXPECT_EQ(eval("2 * 3 + 4 * 5"), 26);
  EXPECT_EQ(eval("10 - 4 - 3"), 3); // left associative
  EXPECT_EQ(eval("64 / 4 / 2"), 8); // left associative
  EXPECT_EQ(eval("2 * 9 / 4"), 4);  // (2 * 9) / 4
  EXPECT_EQ(eval("2 * (9 / 4)"), 4);
  EXPECT_EQ(eval("1 - 2 * 3 + 4"), -1);
  EXPECT_EQ(eval("((((5))))"), 5);
}

TEST(Formula, UnaryOperators) {
  EXPECT_EQ(eval("-3"), -3);
  EXPECT_EQ(eval("--3"), 3);
  EXPECT_EQ(eval("+3"), 3);
  EXPECT_EQ(eval("2 * -3"), -6);
  EXPECT_EQ(eval("-(2 + 3) * 2"), -10);
}

TEST(Formula, DivisionTruncatesTowardZero) {
  EXPECT_EQ(eval("7 / 2"), 3);
  EXPECT_EQ(eval("-7 / 2"), -3);
  EXPECT_EQ(eval("7 / -2"), -3);
  EXPECT_EQ(eval("-7 / -2"), 3);
}

TEST(Formula, Functions) {
  EXPECT_EQ(eval("ceildiv(7, 2)"), 4);
  EXPECT_EQ(eval("ceildiv(8, 2)"), 4);
  EXPECT_EQ(eval("ceildiv(0, 64)"), 0);
  EXPECT_EQ(eval("ceildiv(1, 64)"), 1);
  EXPECT_EQ(eval("ceildiv(-7, 2)"), -3); // ceil(-3.5)
  EXPECT_EQ(eval("ceildiv(-7, -2)"), 4); // ceil(3.5)
  EXPECT_EQ(eval("min(3, -4)"), -4);
  EXPECT_EQ(eval("max(3, -4)"), 3);
  EXPECT_EQ(eval("max(1, min(T, 64)) * ceildiv(T_total, 64)",
                 {{"T", 100}, {"T_total", 200}}),
            64 * 4);
  EXPECT_EQ(eval("ceildiv(T_total * HV * DK * 2, 256)",
                 {{"T_total", 1000}, {"HV", 4}, {"DK", 128}}),
            4000);
}

TEST(Formula, SymbolsAreDistinctInOrder) {
  Formula f = Formula::parse("HV * T + ceildiv(T, chunk) + HV");
  ASSERT_EQ(f.symbols().size(), 3u);
  EXPECT_EQ(f.symbols()[0], "HV");
  EXPECT_EQ(f.symbols()[1], "T");
  EXPECT_EQ(f.symbols()[2], "chunk");
  EXPECT_EQ(f.text(), "HV * T + ceildiv(T, chunk) + HV");
}

TEST(Formula, SyntaxErrors) {
  EXPECT_NE(parseError("").find("empty formula"), std::string::npos);
  EXPECT_NE(parseError("   ").find("empty formula"), std::string::npos);
  EXPECT_EQ(parseError("1 +"),
            "expected a number, name or '(', found end of formula at column 4 "
            "of '1 +'");
  EXPECT_EQ(parseError("(1 + 2"),
            "expected ')' to close '(', found end of formula at column 7 of "
            "'(1 + 2'");
  EXPECT_EQ(parseError("1 2"),
            "unexpected '2' after a complete expression at column 3 of '1 2'");
  EXPECT_EQ(parseError("T $ 2"),
            "unexpected character '$' at column 3 of 'T $ 2'");
  EXPECT_EQ(parseError("1 % 2"),
            "unexpected character '%' at column 3 of '1 % 2'");
  EXPECT_EQ(parseError("foo(1, 2)"),
            "unknown function 'foo' (known: ceildiv, min, max) at column 1 of "
            "'foo(1, 2)'");
  EXPECT_NE(parseError("min(1)").find("expected ',' after the first argument "
                                      "of min, found ')'"),
            std::string::npos);
  EXPECT_NE(parseError("max(1, 2, 3)")
                .find("expected ')' after the second "
                      "argument of max (it takes 2)"),
            std::string::npos);
  EXPECT_NE(parseError("ceildiv + 1")
                .find("function 'ceildiv' needs "
                      "arguments"),
            std::string::npos);
  EXPECT_NE(parseError("12ab").find("malformed number '12a'"),
            std::string::npos);
  EXPECT_NE(parseError("9223372036854775808")
                .find("integer literal out of "
                      "range at column 1"),
            std::string::npos);
  EXPECT_NE(parseError("()").find("found ')'"), std::string::npos);
  EXPECT_NE(parseError("1 * * 2").find("found '*' at column 5"),
            std::string::npos);
}

TEST(Formula, DeepNestingIsAnErrorNotACrash) {
  std::string deep = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(parseError(deep).find("nested too deeply"), std::string::npos);
  std::string negs = std::string(5000, '-') + "1";
  EXPECT_NE(parseError(negs).find("nested too deeply"), std::string::npos);
  // Moderate nesting is fine.
  EXPECT_EQ(eval(std::string(100, '(') + "1" + std::string(100, ')')), 1);
}

TEST(Formula, DivisionByZero) {
  EXPECT_EQ(evalError("T / x", {{"T", 4}, {"x", 0}}),
            "division by zero in 'T / x'");
  EXPECT_EQ(evalError("ceildiv(T, 0)", {{"T", 4}}),
            "division by zero in 'ceildiv(T, 0)'");
}

TEST(Formula, Overflow) {
  std::map<std::string, int64_t> big{
      {"a", int64_t(1) << 62}, {"m", kMin}, {"M", kMax}};
  EXPECT_EQ(evalError("a * 2", big), "integer overflow in 'a * 2'");
  EXPECT_EQ(evalError("a * a", big), "integer overflow in 'a * a'");
  EXPECT_EQ(evalError("M + 1", big), "integer overflow in 'M + 1'");
  EXPECT_EQ(evalError("m - 1", big), "integer overflow in 'm - 1'");
  EXPECT_EQ(evalError("-m", big), "integer overflow in '-m'");
  EXPECT_EQ(evalError("m / -1", big), "integer overflow in 'm / -1'");
  EXPECT_EQ(evalError("ceildiv(m, -1)", big),
            "integer overflow in 'ceildiv(m, -1)'");
  // Near the edges but representable.
  EXPECT_EQ(eval("a * 2 - 1 + a * 2", {{"a", int64_t(1) << 61}}), kMax);
  EXPECT_EQ(eval("M / 1", big), kMax);
}

TEST(Formula, UnboundSymbolComesFromTheLookup) {
  EXPECT_EQ(evalError("T * H", {{"T", 3}}), "symbol 'H' is not bound");
}

TEST(Formula, EvaluatingAnEmptyFormulaFails) {
  Formula f;
  EXPECT_TRUE(f.empty());
  EXPECT_THROW(f.evaluate([](const std::string &) { return int64_t(0); }),
               FormulaError);
}
