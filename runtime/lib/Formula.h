//===- Formula.h - integer grid / scratch-size formulas of the manifest ---===//
//
// Grammar (docs/package-format.md "Formulas"):
//
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '/') unary)*
//   unary   := ('-' | '+') unary | primary
//   primary := INTEGER | SYMBOL | FUNC '(' expr ',' expr ')' | '(' expr ')'
//   FUNC    := 'ceildiv' | 'min' | 'max'
//
// Formulas are parsed once (at package load) into a small tree and evaluated
// in int64 at launch time, with overflow and division-by-zero checks. '/'
// truncates toward zero like C; ceildiv(a, b) is the ceiling of a / b.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_FORMULA_H
#define DELTAJIT_RUNTIME_FORMULA_H

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace deltajit {

/// A syntax or evaluation error; the message does not name the manifest
/// field (the caller prefixes it).
class FormulaError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class Formula {
public:
  /// Resolves a symbol to its integer value. Throws FormulaError (with a
  /// message naming the symbol) when it cannot.
  using Lookup = std::function<int64_t(const std::string &)>;

  Formula() = default;

  /// Parses `text`; throws FormulaError describing the problem and column.
  static Formula parse(std::string_view text);

  /// Evaluates with symbols from `lookup`; throws FormulaError on overflow
  /// or division by zero.
  int64_t evaluate(const Lookup &lookup) const;

  /// Distinct symbol names, in order of first appearance.
  const std::vector<std::string> &symbols() const { return symbols_; }
  const std::string &text() const { return text_; }
  bool empty() const { return nodes_.empty(); }

private:
  enum class Kind {
    Literal,
    Symbol,
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    CeilDiv,
    Min,
    Max
  };
  struct Node {
    Kind kind;
    int64_t value = 0; // Literal value, or index into symbols_.
    int lhs = -1, rhs = -1;
  };
  friend class FormulaParser;

  int64_t eval(int node, std::vector<int64_t> &symbolValues) const;

  std::string text_;
  std::vector<Node> nodes_;
  std::vector<std::string> symbols_;
  int root_ = -1;
};

/// Checked int64 helpers (throw FormulaError naming `what` on overflow).
int64_t checkedAdd(int64_t a, int64_t b, std::string_view what);
int64_t checkedMul(int64_t a, int64_t b, std::string_view what);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_FORMULA_H
