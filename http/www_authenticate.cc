#include "http/www_authenticate.h"

#include <cassert>

#include "http/header_rules.h"
#include "http/message_head.h"

namespace regcache::http {

namespace {

static_assert(kChallengesMax * 2 <= kWwwAuthenticateBytesMax,
              "every challenge needs at least a one-byte scheme and a separator");

// token68 (RFC 9110 section 11.2), without its trailing '='.
bool is_token68_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

// qdtext (RFC 9110 section 5.6.4): HTAB, SP, VCHAR except '"' and '\', obs-text.
bool is_qdtext(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || byte == 0x21 || (byte >= 0x23 && byte <= 0x5B) ||
         (byte >= 0x5D && byte <= 0x7E) || byte >= 0x80;
}

// The octet after the '\' of a quoted-pair (RFC 9110 section 5.6.4): HTAB, SP, VCHAR, obs-text.
bool is_quoted_pair_char(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return c == '\t' || (byte >= 0x20 && byte != 0x7F);
}

// One pass over the field value. Every loop advances pos_ or returns, so the work is bounded by
// the value size, which is capped before parsing starts.
class ChallengeParser {
public:
  ChallengeParser(std::string_view value, std::vector<Challenge> &out) : value_(value), out_(out) {}

  bool run() {
    if (value_.size() > kWwwAuthenticateBytesMax) {
      error_ = "WWW-Authenticate value is longer than " + std::to_string(kWwwAuthenticateBytesMax) +
               " bytes";
      return false;
    }
    skip_list_separators();
    while (!at_end()) {
      if (out_.size() == kChallengesMax)
        return fail("more than " + std::to_string(kChallengesMax) + " challenges");
      if (!parse_challenge())
        return false;
    }
    if (out_.empty())
      return fail("no challenge");
    return true;
  }

  const std::string &error() const { return error_; }

private:
  bool at_end() const { return pos_ == value_.size(); }

  bool fail_at(size_t offset, const std::string &what) {
    error_ = what + " at offset " + std::to_string(offset);
    return false;
  }
  bool fail(const std::string &what) { return fail_at(pos_, what); }

  void skip_ows() {
    while (!at_end() && is_ows(value_[pos_]))
      ++pos_;
  }

  // Recipients accept empty list elements (RFC 9110 section 5.6.1), so ", ," is one separator.
  void skip_list_separators() {
    while (!at_end() && (is_ows(value_[pos_]) || value_[pos_] == ','))
      ++pos_;
  }

  size_t token_end(size_t from) const {
    size_t end = from;
    while (end < value_.size() && header_rules::is_tchar(value_[end]))
      ++end;
    return end;
  }

  // challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]   (RFC 9110 section 11.3)
  bool parse_challenge() {
    const size_t scheme_end = token_end(pos_);
    if (scheme_end == pos_)
      return fail("expected an auth-scheme");
    Challenge &challenge = out_.emplace_back();
    challenge.scheme = value_.substr(pos_, scheme_end - pos_);
    pos_ = scheme_end;
    if (at_end())
      return true;
    if (value_[pos_] != ',' && !is_ows(value_[pos_]))
      return fail("expected a space after the auth-scheme");
    skip_ows();
    if (!at_end() && value_[pos_] != ',') {
      if (parse_token68(challenge))
        return true;
      return parse_auth_params(challenge);
    }
    // Empty list elements may come first ("Bearer , realm=..."): a "name=" element after them
    // still belongs to this challenge, since it cannot start another one.
    skip_list_separators();
    if (!at_end() && next_is_auth_param())
      return parse_auth_params(challenge);
    return true;
  }

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", and nothing else
  // before the end of the challenge. "realm=" alone is a token68 by this grammar; "realm=x" is
  // not. Returns false, consuming nothing, when the challenge does not hold a token68.
  bool parse_token68(Challenge &challenge) {
    size_t end = pos_;
    while (end < value_.size() && is_token68_char(value_[end]))
      ++end;
    if (end == pos_)
      return false;
    while (end < value_.size() && value_[end] == '=')
      ++end;
    size_t after = end;
    while (after < value_.size() && is_ows(value_[after]))
      ++after;
    if (after != value_.size() && value_[after] != ',')
      return false;
    challenge.params.push_back(AuthParam{{}, std::string(value_.substr(pos_, end - pos_))});
    pos_ = after;
    skip_list_separators();
    return true;
  }

  // Whether the list element at pos_ is an auth-param ("name=") rather than the next challenge.
  bool next_is_auth_param() const {
    size_t end = token_end(pos_);
    if (end == pos_)
      return false;
    while (end < value_.size() && is_ows(value_[end]))
      ++end;
    return end < value_.size() && value_[end] == '=';
  }

  // #auth-param, auth-param = token BWS "=" BWS ( token / quoted-string )
  bool parse_auth_params(Challenge &challenge) {
    while (true) { // bounded: each round consumes one parameter or fails
      if (challenge.params.size() == kAuthParamsPerChallengeMax)
        return fail("more than " + std::to_string(kAuthParamsPerChallengeMax) +
                    " auth-params in one challenge");
      const size_t name_start = pos_;
      const size_t name_end = token_end(pos_);
      if (name_end == name_start)
        return fail("expected an auth-param name");
      const std::string_view name = value_.substr(name_start, name_end - name_start);
      pos_ = name_end;
      skip_ows();
      if (at_end() || value_[pos_] != '=')
        return fail("expected '=' after the auth-param name");
      ++pos_;
      skip_ows();
      // Each parameter name occurs only once per challenge (RFC 9110 section 11.2); two realms
      // would leave it to chance where credentials go.
      if (challenge.param(name) != nullptr)
        return fail_at(name_start, "auth-param name repeated in one challenge");
      AuthParam &param = challenge.params.emplace_back(AuthParam{name, {}});
      if (!parse_param_value(param.value))
        return false;
      skip_ows();
      if (at_end())
        return true;
      if (value_[pos_] != ',')
        return fail("expected ',' after an auth-param");
      skip_list_separators();
      if (at_end() || !next_is_auth_param())
        return true;
    }
  }

  bool parse_param_value(std::string &out_value) {
    if (!at_end() && value_[pos_] == '"')
      return parse_quoted_string(out_value);
    const size_t end = token_end(pos_);
    if (end == pos_)
      return fail("expected a token or quoted-string auth-param value");
    out_value.assign(value_.substr(pos_, end - pos_));
    pos_ = end;
    return true;
  }

  // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE   (RFC 9110 section 5.6.4)
  bool parse_quoted_string(std::string &out_value) {
    assert(value_[pos_] == '"');
    const size_t open_quote = pos_;
    ++pos_;
    while (!at_end()) { // bounded: each round consumes one or two bytes
      const char c = value_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (pos_ + 1 == value_.size())
          break;
        if (!is_quoted_pair_char(value_[pos_ + 1]))
          return fail("control character after '\\' in a quoted-string");
        out_value.push_back(value_[pos_ + 1]);
        pos_ += 2;
        continue;
      }
      if (!is_qdtext(c))
        return fail("control character in a quoted-string");
      out_value.push_back(c);
      ++pos_;
    }
    return fail_at(open_quote, "unterminated quoted-string");
  }

  std::string_view value_;
  size_t pos_ = 0;
  std::vector<Challenge> &out_;
  std::string error_;
};

} // namespace

const AuthParam *Challenge::param(std::string_view name) const {
  for (const AuthParam &candidate : params) {
    if (iequals(candidate.name, name))
      return &candidate;
  }
  return nullptr;
}

bool parse_www_authenticate(std::string_view value, std::vector<Challenge> &out,
                            std::string *error) {
  out.clear();
  ChallengeParser parser(value, out);
  if (parser.run()) {
    assert(!out.empty() && out.size() <= kChallengesMax);
    return true;
  }
  out.clear();
  if (error != nullptr)
    *error = parser.error();
  return false;
}

std::optional<BearerChallenge> find_bearer(std::span<const Challenge> challenges) {
  for (const Challenge &challenge : challenges) {
    if (!iequals(challenge.scheme, "Bearer"))
      continue;
    const AuthParam *realm = challenge.param("realm");
    if (realm == nullptr || realm->value.empty())
      continue;
    BearerChallenge bearer;
    bearer.realm = realm->value;
    if (const AuthParam *service = challenge.param("service"))
      bearer.service = service->value;
    if (const AuthParam *scope = challenge.param("scope"))
      bearer.scope = scope->value;
    return bearer;
  }
  return std::nullopt;
}

bool has_basic(std::span<const Challenge> challenges) {
  for (const Challenge &challenge : challenges) {
    if (iequals(challenge.scheme, "Basic"))
      return true;
  }
  return false;
}

} // namespace regcache::http
