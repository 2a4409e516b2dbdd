#include "http/proxy_connect.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "guarded_input.h"

namespace regcache::http {
namespace {

ProxyConfig proxy_with(std::string authorization) {
  ProxyConfig proxy;
  proxy.host = "proxy.corp";
  proxy.port = 3128;
  proxy.authorization = std::move(authorization);
  proxy.display = "http://user:***@proxy.corp:3128";
  return proxy;
}

std::string connect_request(const ProxyConfig &proxy, std::string_view host, uint16_t port) {
  std::array<char, 1024> buffer;
  const size_t bytes = format_connect_request(proxy, host, port, buffer);
  return std::string(buffer.data(), bytes);
}

bool same(const ConnectAnswer &a, const ConnectAnswer &b) {
  return a.kind == b.kind && a.status == b.status && a.consumed == b.consumed;
}

// The answer parsed whole, and every shorter prefix against a guard page: each prefix is
// Incomplete or already the whole answer's outcome (an answer ends with its head).
ConnectAnswer parse_whole_and_bytewise(std::string_view input) {
  const ConnectAnswer whole =
      parse_connect_answer(std::span<const char>(input.data(), input.size()));
  testing::GuardedInput guarded(input.size());
  EXPECT_TRUE(same(parse_connect_answer(guarded.place(input)), whole));
  bool settled = false;
  for (size_t prefix = 0; prefix <= input.size(); ++prefix) { // bounded by the input
    const ConnectAnswer partial = parse_connect_answer(guarded.place(input.substr(0, prefix)));
    if (!settled && partial.kind == ConnectAnswer::Kind::Incomplete)
      continue;
    settled = true;
    EXPECT_TRUE(same(partial, whole)) << "after " << prefix << " bytes";
  }
  return whole;
}

TEST(ConnectRequestTest, NamesTheTargetInAuthorityFormWithHost) {
  EXPECT_EQ(connect_request(proxy_with(""), "registry.example", 443),
            "CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\n"
            "User-Agent: regcache/0.1\r\n\r\n");
}

TEST(ConnectRequestTest, SendsProxyAuthorizationWhenTheProxyHasCredentials) {
  const std::string request =
      connect_request(proxy_with("Basic dXNlcjpzZWNyZXQ="), "registry.example", 5000);
  EXPECT_NE(request.find("CONNECT registry.example:5000 HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(request.find("\r\nProxy-Authorization: Basic dXNlcjpzZWNyZXQ=\r\n"), std::string::npos);
}

TEST(ConnectRequestTest, KeepsIpv6BracketsInTheTarget) {
  EXPECT_NE(connect_request(proxy_with(""), "[fd00::5]", 443).find("CONNECT [fd00::5]:443 "),
            std::string::npos);
}

TEST(ConnectRequestTest, RefusesAHostThatWouldSplitTheRequest) {
  EXPECT_EQ(connect_request(proxy_with(""), "evil\r\nX: y", 443), "");
}

TEST(ConnectRequestTest, RefusesWhatDoesNotFitTheBuffer) {
  std::array<char, 40> small;
  EXPECT_EQ(format_connect_request(proxy_with(""), "registry.example", 443, small), 0u);
}

TEST(ConnectAnswerTest, A200OpensTheTunnelAfterTheHead) {
  const std::string answer = "HTTP/1.1 200 Connection established\r\n\r\n";
  const ConnectAnswer parsed = parse_whole_and_bytewise(answer);
  EXPECT_EQ(parsed.kind, ConnectAnswer::Kind::Tunnel);
  EXPECT_EQ(parsed.status, 200);
  EXPECT_EQ(parsed.consumed, answer.size());
}

TEST(ConnectAnswerTest, BodyFramingFieldsOfA2xxAreIgnored) {
  // RFC 9110 section 9.3.6: a 2xx to CONNECT has no body, whatever the fields say.
  const std::string answer = "HTTP/1.0 200 OK\r\nContent-Length: 10\r\nVia: squid\r\n\r\n";
  const ConnectAnswer parsed = parse_whole_and_bytewise(answer);
  EXPECT_EQ(parsed.kind, ConnectAnswer::Kind::Tunnel);
  EXPECT_EQ(parsed.consumed, answer.size());
}

TEST(ConnectAnswerTest, BytesAfterTheHeadAreNotPartOfIt) {
  const std::string head = "HTTP/1.1 200 OK\r\n\r\n";
  const std::string input = head + "\x16\x03\x01";
  const ConnectAnswer parsed =
      parse_connect_answer(std::span<const char>(input.data(), input.size()));
  EXPECT_EQ(parsed.kind, ConnectAnswer::Kind::Tunnel);
  EXPECT_EQ(parsed.consumed, head.size());
}

TEST(ConnectAnswerTest, A407IsARefusalWithItsStatus) {
  const ConnectAnswer parsed = parse_whole_and_bytewise(
      "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(parsed.kind, ConnectAnswer::Kind::Refused);
  EXPECT_EQ(parsed.status, 407);
}

TEST(ConnectAnswerTest, InterimAnswersAreSkipped) {
  const std::string answer = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
  const ConnectAnswer parsed = parse_whole_and_bytewise(answer);
  EXPECT_EQ(parsed.kind, ConnectAnswer::Kind::Tunnel);
  EXPECT_EQ(parsed.consumed, answer.size());
}

TEST(ConnectAnswerTest, EndlessInterimAnswersAreInvalid) {
  std::string answer;
  for (int i = 0; i < 8; ++i)
    answer += "HTTP/1.1 100 Continue\r\n\r\n";
  EXPECT_EQ(parse_connect_answer(std::span<const char>(answer.data(), answer.size())).kind,
            ConnectAnswer::Kind::Invalid);
}

TEST(ConnectAnswerTest, SomethingThatIsNotHttpIsInvalid) {
  const ConnectAnswer parsed = parse_whole_and_bytewise("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  EXPECT_EQ(parsed.kind, ConnectAnswer::Kind::Invalid);
  EXPECT_FALSE(parsed.reason.empty());
}

TEST(ConnectAnswerTest, AHeadLongerThanTheBoundIsInvalid) {
  std::string answer = "HTTP/1.1 200 OK\r\nX-Padding: ";
  answer.append(kConnectAnswerBytesMax, 'a');
  const ConnectAnswer parsed =
      parse_connect_answer(std::span<const char>(answer.data(), answer.size()));
  EXPECT_EQ(parsed.kind, ConnectAnswer::Kind::Invalid);
}

TEST(ConnectAnswerTest, AnIncompleteHeadAsksForMore) {
  const std::string answer = "HTTP/1.1 200 OK\r\n";
  EXPECT_EQ(parse_connect_answer(std::span<const char>(answer.data(), answer.size())).kind,
            ConnectAnswer::Kind::Incomplete);
}

TEST(ProxyRefusalTest, A407SaysTheCredentialsWereRefusedAndNamesTheProxyWithoutItsPassword) {
  const std::string text =
      describe_proxy_refusal(proxy_with("Basic dXNlcjpzZWNyZXQ="), "registry.example:443", 407);
  EXPECT_NE(text.find("the upstream proxy refused the credentials"), std::string::npos);
  EXPECT_NE(text.find("407"), std::string::npos);
  EXPECT_NE(text.find("http://user:***@proxy.corp:3128"), std::string::npos);
  EXPECT_EQ(text.find("dXNlcjpzZWNyZXQ"), std::string::npos);
}

TEST(ProxyConfigTest, AppliesToHostsNoProxyDoesNotMatch) {
  ProxyConfig proxy = proxy_with("");
  std::string problem;
  proxy.no_proxy = *NoProxyList::parse("corp.example,10.0.0.0/8", &problem);
  EXPECT_TRUE(proxy.applies_to("registry-1.docker.io"));
  EXPECT_FALSE(proxy.applies_to("registry.corp.example"));
  EXPECT_FALSE(proxy.applies_to("10.2.3.4"));
  ProxyConfig none;
  EXPECT_FALSE(none.applies_to("registry-1.docker.io"));
}

TEST(ProxyConnectCountersTest, CountsEachResultUnderItsLabel) {
  ProxyConnectCounters counters;
  counters.count(0);
  counters.count(kProxyRefused);
  counters.count(-ETIME);
  counters.count(-ECONNREFUSED);
  EXPECT_EQ(counters.ok.load(), 1u);
  EXPECT_EQ(counters.refused.load(), 1u);
  EXPECT_EQ(counters.failed.load(), 2u);
}

} // namespace
} // namespace regcache::http
