#include "registry/serve/control_endpoints.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "core/unix_time.h"
#include "core/wait_list.h"
#include "registry/api/client_policy.h"
#include "registry/api/name_grammar.h"
#include "registry/api/route.h"
#include "registry/cache/blob_fetch.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/cache_catalog.h"
#include "registry/cache/cache_purge.h"
#include "registry/cache/tag_index.h"
#include "registry/cache/tag_store.h"
#include "registry/serve/client_access.h"
#include "registry/serve/client_connection.h"
#include "registry/serve/control_json.h"
#include "registry/serve/service_probe.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kJson = "application/json";

// 127.0.0.0/8, ::1, and 127.x as an IPv4-mapped IPv6 address (a dual-stack listener).
bool peer_is_loopback(int fd) {
  sockaddr_storage peer{};
  socklen_t length = sizeof(peer);
  // Once per control request, which are rare; a plain syscall that never blocks.
  if (::getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &length) != 0)
    return false;
  if (peer.ss_family == AF_INET) {
    const auto *v4 = reinterpret_cast<const sockaddr_in *>(&peer);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (peer.ss_family == AF_INET6) {
    const auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&peer);
    if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

// True when the client may use the control endpoints; otherwise the request has been answered.
core::Task<bool> admit_operator(ClientConnection &client, const http::RequestHead &request) {
  if (peer_is_loopback(client.fd()))
    co_return true;
  std::optional<ClientIdentity> identity = co_await identify_client(client, request);
  if (!identity)
    co_return false; // answered: bad credentials, or too many password checks
  const bool operator_user =
      identity->kind == ClientIdentity::Kind::User &&
      client_policy_allows(client.generation().config.control_users, identity->user);
  if (operator_user)
    co_return true;
  client.set_outcome(CacheOutcome::Error);
  co_await client.send_oci_error(
      403, OciErrorCode::Denied,
      "the control endpoints are for loopback clients and the users --control-users names");
  co_return false;
}

// Listing and purging walk the whole store; this many run at once per worker, each on a thread
// of its own, and an operator asking for more waits (503, Retry-After) rather than regcache
// starting threads without bound.
constexpr uint32_t kControlJobsPerWorkerMax = 2;

// Runs `work` on a thread of its own and resumes when it is done; false (answered with 503)
// when the worker runs kControlJobsPerWorkerMax already. `work` lives in the caller's frame,
// which stays suspended until the thread's wake-up: the thread touches nothing else. The
// connection waiting here counts as open, so the worker does not end before the thread does
// (past the shutdown grace, the process ends with the thread: see Server::run_worker).
core::Task<bool> run_on_helper_thread(ClientConnection &client, std::function<void()> &work) {
  WorkerContext &worker = client.worker();
  if (worker.control_jobs_running >= kControlJobsPerWorkerMax) {
    static constexpr http::Header kRetry{"Retry-After", "1"};
    client.set_outcome(CacheOutcome::Error);
    co_await client.send_oci_error(503, OciErrorCode::TooManyRequests,
                                   "other listings or purges are running; try again",
                                   std::span<const http::Header>(&kRetry, 1));
    co_return false;
  }
  worker.control_jobs_running++;
  core::Waiter done;
  done.arm();
  std::thread([&work, &done] {
    work();
    core::wake_all(&done);
  }).detach();
  co_await done;
  worker.control_jobs_running--;
  co_return true;
}

std::optional<int64_t> parse_seconds(std::string_view text) {
  int64_t seconds = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error != std::errc() || end != text.data() + text.size() || seconds < 0)
    return std::nullopt;
  return seconds;
}

// The purge selection of the query, or nullopt with `*problem` said. An image is named as a
// client names it (its name, ?ns= for another registry) and routed as a pull would be, so its
// tags are keyed as the pull stored them.
std::optional<PurgeSelection> purge_selection(WorkerContext &worker,
                                              const ConfigGeneration &generation,
                                              std::string_view query, std::string *problem) {
  PurgeSelection selection;
  const std::string_view name = query_param(query, "name");
  const std::string_view tag = query_param(query, "tag");
  const std::string_view digest_text = query_param(query, "digest");
  const std::string_view older_than = query_param(query, "older_than_s");
  if (!digest_text.empty()) {
    selection.digest = parse_sha256_digest(digest_text);
    if (!selection.digest) {
      *problem = "digest: expected sha256:<64 lowercase hex digits>";
      return std::nullopt;
    }
  }
  if (!older_than.empty()) {
    std::optional<int64_t> seconds = parse_seconds(older_than);
    if (!seconds || !name.empty() || !tag.empty() || selection.digest) {
      *problem = "older_than_s: expected a number of seconds, and nothing else to select by";
      return std::nullopt;
    }
    selection.kind = PurgeSelection::Kind::OlderThan;
    selection.cutoff_unix_s = core::unix_now_s() - *seconds;
    return selection;
  }
  if (name.empty()) {
    if (!selection.digest) {
      *problem = "expected name= with tag= or digest=, digest= alone, or older_than_s=";
      return std::nullopt;
    }
    selection.kind = PurgeSelection::Kind::Digest;
    return selection;
  }
  const bool by_tag = !tag.empty();
  if (!is_valid_repository_name(name) || by_tag == selection.digest.has_value() ||
      (by_tag && !is_valid_tag(tag))) {
    *problem = "expected a repository name and either a tag or a digest";
    return std::nullopt;
  }
  UpstreamChoiceRef chosen;
  if (worker.upstream_choices.choose(generation.number, generation.config, &generation.upstream_tls,
                                     query, name, chosen) != UpstreamRefusal::None) {
    *problem = "ns: not a registry regcache serves";
    return std::nullopt;
  }
  selection.kind = PurgeSelection::Kind::Image;
  selection.upstream = chosen->endpoint.authority;
  selection.name = chosen->name;
  selection.tag = tag;
  return selection;
}

core::Task<void> respond_images(ClientConnection &client) {
  BlobStore &store = client.worker().store;
  std::string body;
  std::function<void()> work = [&] { body = format_images_json(read_cache_graph(store)); };
  bool ran = co_await run_on_helper_thread(client, work);
  if (ran)
    co_await client.send_simple(200, kJson, body);
}

core::Task<void> respond_stats(ClientConnection &client) {
  WorkerContext &worker = client.worker();
  ControlStats stats;
  if (worker.service != nullptr)
    stats.requests = worker.service->request_totals();
  stats.cache_disk_bytes = worker.store.index().disk_bytes();
  stats.cache_content_bytes = worker.store.index().content_bytes();
  stats.cache_max_bytes = client.generation().config.cache_max_size_bytes;
  stats.cache_entries = worker.store.index().count();
  stats.tags_held = worker.tags.index().tags_held();
  stats.manifests_held = worker.store.manifests_in_memory().count();
  stats.downloads_running = worker.fetches.running();
  std::string body = format_stats_json(stats);
  co_await client.send_simple(200, kJson, body);
}

core::Task<void> respond_blob(ClientConnection &client, std::string_view digest_text) {
  std::optional<Digest> digest = parse_sha256_digest(digest_text);
  if (!digest) {
    co_await client.send_oci_error(400, OciErrorCode::DigestInvalid,
                                   "expected sha256:<64 lowercase hex digits>");
    co_return;
  }
  IndexEntryView entry;
  const bool stored =
      client.worker().store.index().lookup(*digest, entry) && entry.state == BlobState::Present;
  if (!stored) {
    co_await client.send_oci_error(404, OciErrorCode::BlobUnknown, "not in the cache");
    co_return;
  }
  std::string body = fmt::format("{{\"size\":{},\"last_use_unix_s\":{}}}\n", entry.size_bytes,
                                 entry.last_use_unix_s);
  co_await client.send_simple(200, kJson, body);
}

core::Task<void> respond_purge(ClientConnection &client, const http::RequestHead &request) {
  WorkerContext &worker = client.worker();
  std::string problem;
  std::optional<PurgeSelection> selection =
      purge_selection(worker, client.generation(), request.query, &problem);
  if (!selection) {
    co_await client.send_oci_error(400, OciErrorCode::Unsupported, problem);
    co_return;
  }
  std::string body;
  std::function<void()> work = [&] {
    const CacheGraph graph = read_cache_graph(worker.store);
    const PurgePlan plan = plan_purge(graph, *selection);
    const PurgeReport report =
        execute_purge(worker.store, worker.tags.index(), worker.fetches, graph, plan);
    body = format_purge_json(plan, report);
  };
  bool ran = co_await run_on_helper_thread(client, work);
  if (!ran)
    co_return;
  worker.log.append_message("purge by an operator: " + body);
  co_await client.send_simple(200, kJson, body);
}

} // namespace

core::Task<void> serve_control_endpoint(ClientConnection &client,
                                        const http::RequestHead &request) {
  bool admitted = co_await admit_operator(client, request);
  if (!admitted)
    co_return;
  const std::string_view endpoint = request.path.substr(kControlPrefix.size());
  const bool reads = request.method == "GET" || request.method == "HEAD";
  if (endpoint == "purge") {
    if (request.method != "POST") {
      static constexpr http::Header kAllow{"Allow", "POST"};
      co_await client.send_oci_error(405, OciErrorCode::Unsupported, "purge is a POST",
                                     std::span<const http::Header>(&kAllow, 1));
      co_return;
    }
    co_await respond_purge(client, request);
    co_return;
  }
  if (!reads) {
    static constexpr http::Header kAllow{"Allow", "GET, HEAD"};
    co_await client.send_oci_error(405, OciErrorCode::Unsupported, "a control read is a GET",
                                   std::span<const http::Header>(&kAllow, 1));
    co_return;
  }
  if (endpoint == "images") {
    co_await respond_images(client);
  } else if (endpoint == "stats") {
    co_await respond_stats(client);
  } else if (endpoint.starts_with("blobs/")) {
    co_await respond_blob(client, endpoint.substr(6));
  } else {
    co_await client.send_oci_error(404, OciErrorCode::Unsupported, "no such control endpoint");
  }
}

} // namespace regcache::registry
