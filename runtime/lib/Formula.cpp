//===- Formula.cpp - tokenizer, recursive-descent parser and evaluator ----===//

#include "Formula.h"

#include <cctype>
#include <limits>

namespace deltajit {

namespace {

enum class Tok {
  End,
  Int,
  Ident,
  Plus,
  Minus,
  Star,
  Slash,
  LParen,
  RParen,
  Comma
};

struct Token {
  Tok kind;
  std::string_view text;
  size_t column; // 1-based
  int64_t value = 0;
};

const char *describe(Tok t) {
  switch (t) {
  case Tok::End:
    return "end of formula";
  case Tok::Int:
    return "integer";
  case Tok::Ident:
    return "name";
  case Tok::Plus:
    return "'+'";
  case Tok::Minus:
    return "'-'";
  case Tok::Star:
    return "'*'";
  case Tok::Slash:
    return "'/'";
  case Tok::LParen:
    return "'('";
  case Tok::RParen:
    return "')'";
  case Tok::Comma:
    return "','";
  }
  return "token";
}

constexpr int kMaxDepth = 200;

} // namespace

int64_t checkedAdd(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw FormulaError("integer overflow in " + std::string(what));
  return r;
}

int64_t checkedMul(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw FormulaError("integer overflow in " + std::string(what));
  return r;
}

/// Parses one formula into a Formula's node array.
class FormulaParser {
public:
  FormulaParser(std::string_view text, Formula &f) : text_(text), f_(f) {
    tokenize();
  }

  void run() {
    if (tokens_.size() == 1)
      error(tokens_[0], "empty formula");
    f_.root_ = parseExpr(0);
    if (peek().kind != Tok::End)
      error(peek(), std::string("unexpected ") + quote(peek()) +
                        " after a complete expression");
  }

private:
  [[noreturn]] void error(size_t column, const std::string &what) {
    throw FormulaError(what + " at column " + std::to_string(column) + " of '" +
                       std::string(text_) + "'");
  }
  [[noreturn]] void error(const Token &t, const std::string &what) {
    error(t.column, what);
  }
  static std::string quote(const Token &t) {
    if (t.kind == Tok::End)
      return describe(t.kind);
    return "'" + std::string(t.text) + "'";
  }

  void tokenize() {
    size_t i = 0, n = text_.size();
    while (i < n) {
      char c = text_[i];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      size_t start = i;
      if (std::isdigit(static_cast<unsigned char>(c))) {
        int64_t v = 0;
        while (i < n && std::isdigit(static_cast<unsigned char>(text_[i]))) {
          int d = text_[i] - '0';
          if (v > (std::numeric_limits<int64_t>::max() - d) / 10)
            error(start + 1, "integer literal out of range");
          v = v * 10 + d;
          ++i;
        }
        if (i < n && (std::isalpha(static_cast<unsigned char>(text_[i])) ||
                      text_[i] == '_'))
          error(start + 1, "malformed number '" +
                               std::string(text_.substr(start, i + 1 - start)) +
                               "'");
        tokens_.push_back(
            {Tok::Int, text_.substr(start, i - start), start + 1, v});
        continue;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        while (i < n && (std::isalnum(static_cast<unsigned char>(text_[i])) ||
                         text_[i] == '_'))
          ++i;
        tokens_.push_back(
            {Tok::Ident, text_.substr(start, i - start), start + 1});
        continue;
      }
      Tok k;
      switch (c) {
      case '+':
        k = Tok::Plus;
        break;
      case '-':
        k = Tok::Minus;
        break;
      case '*':
        k = Tok::Star;
        break;
      case '/':
        k = Tok::Slash;
        break;
      case '(':
        k = Tok::LParen;
        break;
      case ')':
        k = Tok::RParen;
        break;
      case ',':
        k = Tok::Comma;
        break;
      default:
        error(start + 1, "unexpected character '" + std::string(1, c) + "'");
      }
      ++i;
      tokens_.push_back({k, text_.substr(start, 1), start + 1});
    }
    tokens_.push_back({Tok::End, {}, n + 1});
  }

  const Token &peek() const { return tokens_[pos_]; }
  const Token &next() { return tokens_[pos_++]; }
  void expect(Tok k, const char *context) {
    if (peek().kind != k)
      error(peek(), std::string("expected ") + describe(k) + " " + context +
                        ", found " + quote(peek()));
    ++pos_;
  }

  int add(Formula::Kind kind, int lhs = -1, int rhs = -1, int64_t value = 0) {
    f_.nodes_.push_back({kind, value, lhs, rhs});
    return static_cast<int>(f_.nodes_.size() - 1);
  }

  int parseExpr(int depth) {
    int lhs = parseTerm(depth);
    while (peek().kind == Tok::Plus || peek().kind == Tok::Minus) {
      Tok op = next().kind;
      int rhs = parseTerm(depth);
      lhs = add(op == Tok::Plus ? Formula::Kind::Add : Formula::Kind::Sub, lhs,
                rhs);
    }
    return lhs;
  }

  int parseTerm(int depth) {
    int lhs = parseUnary(depth);
    while (peek().kind == Tok::Star || peek().kind == Tok::Slash) {
      Tok op = next().kind;
      int rhs = parseUnary(depth);
      lhs = add(op == Tok::Star ? Formula::Kind::Mul : Formula::Kind::Div, lhs,
                rhs);
    }
    return lhs;
  }

  int parseUnary(int depth) {
    if (depth > kMaxDepth)
      error(peek(), "formula nested too deeply");
    if (peek().kind == Tok::Minus) {
      next();
      return add(Formula::Kind::Neg, parseUnary(depth + 1));
    }
    if (peek().kind == Tok::Plus) {
      next();
      return parseUnary(depth + 1);
    }
    return parsePrimary(depth);
  }

  int parsePrimary(int depth) {
    const Token &t = next();
    switch (t.kind) {
    case Tok::Int:
      return add(Formula::Kind::Literal, -1, -1, t.value);
    case Tok::LParen: {
      int e = parseExpr(depth + 1);
      expect(Tok::RParen, "to close '('");
      return e;
    }
    case Tok::Ident: {
      Formula::Kind fn;
      bool isFunction = true;
      if (t.text == "ceildiv")
        fn = Formula::Kind::CeilDiv;
      else if (t.text == "min")
        fn = Formula::Kind::Min;
      else if (t.text == "max")
        fn = Formula::Kind::Max;
      else
        isFunction = false;
      if (peek().kind == Tok::LParen) {
        if (!isFunction)
          error(t, "unknown function '" + std::string(t.text) +
                       "' (known: ceildiv, min, max)");
        next();
        int a = parseExpr(depth + 1);
        expect(Tok::Comma,
               ("after the first argument of " + std::string(t.text)).c_str());
        int b = parseExpr(depth + 1);
        expect(Tok::RParen, ("after the second argument of " +
                             std::string(t.text) + " (it takes 2)")
                                .c_str());
        return add(fn, a, b);
      }
      if (isFunction)
        error(t, "function '" + std::string(t.text) +
                     "' needs arguments: " + std::string(t.text) + "(a, b)");
      std::string name(t.text);
      size_t index = 0;
      while (index < f_.symbols_.size() && f_.symbols_[index] != name)
        ++index;
      if (index == f_.symbols_.size())
        f_.symbols_.push_back(name);
      return add(Formula::Kind::Symbol, -1, -1, static_cast<int64_t>(index));
    }
    default:
      error(t,
            std::string("expected a number, name or '(', found ") + quote(t));
    }
  }

  std::string_view text_;
  Formula &f_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

Formula Formula::parse(std::string_view text) {
  Formula f;
  f.text_ = std::string(text);
  FormulaParser parser(f.text_, f);
  parser.run();
  return f;
}

int64_t Formula::evaluate(const Lookup &lookup) const {
  if (root_ < 0)
    throw FormulaError("empty formula");
  std::vector<int64_t> values;
  values.reserve(symbols_.size());
  for (const std::string &s : symbols_)
    values.push_back(lookup(s));
  return eval(root_, values);
}

int64_t Formula::eval(int index, std::vector<int64_t> &values) const {
  const Node &n = nodes_[index];
  auto where = [&] { return "'" + text_ + "'"; };
  switch (n.kind) {
  case Kind::Literal:
    return n.value;
  case Kind::Symbol:
    return values[n.value];
  case Kind::Neg: {
    int64_t a = eval(n.lhs, values);
    if (a == std::numeric_limits<int64_t>::min())
      throw FormulaError("integer overflow in " + where());
    return -a;
  }
  default:
    break;
  }
  int64_t a = eval(n.lhs, values);
  int64_t b = eval(n.rhs, values);
  int64_t r = 0;
  switch (n.kind) {
  case Kind::Add:
    if (__builtin_add_overflow(a, b, &r))
      throw FormulaError("integer overflow in " + where());
    return r;
  case Kind::Sub:
    if (__builtin_sub_overflow(a, b, &r))
      throw FormulaError("integer overflow in " + where());
    return r;
  case Kind::Mul:
    if (__builtin_mul_overflow(a, b, &r))
      throw FormulaError("integer overflow in " + where());
    return r;
  case Kind::Div:
  case Kind::CeilDiv: {
    if (b == 0)
      throw FormulaError("division by zero in " + where());
    if (a == std::numeric_limits<int64_t>::min() && b == -1)
      throw FormulaError("integer overflow in " + where());
    int64_t q = a / b;
    if (n.kind == Kind::CeilDiv && a % b != 0 && ((a < 0) == (b < 0)))
      ++q;
    return q;
  }
  case Kind::Min:
    return a < b ? a : b;
  case Kind::Max:
    return a > b ? a : b;
  default:
    throw FormulaError("internal error: bad formula node");
  }
}

} // namespace deltajit
