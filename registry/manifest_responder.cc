#include "registry/manifest_responder.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <chrono>

#include "core/io_ops.h"
#include "registry/accept_kind.h"
#include "registry/blob_responder.h"
#include "registry/blob_store.h"
#include "registry/sha256.h"
#include "registry/tag_store.h"
#include "registry/upstream_relay.h"

namespace regcache::registry {
namespace {

constexpr size_t kMediaTypeBytesMax = 256;
constexpr http::Header kStaleWarning{"Warning", "110 regcache \"Response is stale\""};

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Writes `bytes` to a fresh temp file and renames it to `path`; with `durable`, fsync first.
core::Task<bool> write_file_atomically(BlobStore& store, const StorePath& path, std::string_view bytes,
                                       bool durable) {
  StorePath temp = store.temp_path();
  int fd = co_await core::openat(store.root_fd(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) co_return false;
  size_t offset = 0;
  bool ok = true;
  while (offset < bytes.size()) {
    int32_t written = co_await core::write(fd, std::span<const char>(bytes.data() + offset, bytes.size() - offset), offset);
    if (written <= 0) {
      ok = false;
      break;
    }
    offset += static_cast<size_t>(written);
  }
  if (ok && durable) ok = co_await core::fsync(fd) == 0;
  co_await core::close(fd);
  if (ok) ok = co_await core::renameat(store.root_fd(), temp.c_str(), store.root_fd(), path.c_str()) == 0;
  if (!ok) co_await core::unlinkat(store.root_fd(), temp.c_str());
  co_return ok;
}

// Manifest bytes whose sha256 is `digest` (the caller checked), with their media type. The type
// goes in first: a published manifest must never lack its type.
core::Task<bool> store_manifest(BlobStore& store, const Digest& digest, std::string_view media_type,
                                std::string_view bytes) {
  StorePath meta = BlobStore::meta_path(digest);
  bool stored = co_await write_file_atomically(store, meta, media_type, false);
  if (!stored) co_return false;
  StorePath blob = BlobStore::blob_path(digest);
  stored = co_await write_file_atomically(store, blob, bytes, true);
  co_return stored;
}

core::Task<bool> load_media_type(BlobStore& store, const Digest& digest, std::string& out) {
  StorePath path = BlobStore::meta_path(digest);
  int fd = co_await core::openat(store.root_fd(), path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) co_return false;
  std::array<char, kMediaTypeBytesMax> text;
  int32_t got = co_await core::read(fd, text, 0);
  co_await core::close(fd);
  if (got <= 0) co_return false;
  out.assign(text.data(), static_cast<size_t>(got));
  co_return true;
}

// A manifest from the store by digest; false when it is not there (nothing sent).
core::Task<bool> serve_stored_manifest(ClientConnection& client, const Digest& digest,
                                       std::span<const http::Header> extra_headers) {
  std::string media_type;
  if (!co_await load_media_type(client.worker().store, digest, media_type)) co_return false;
  co_return co_await serve_stored_file(client, digest, media_type, extra_headers);
}

core::Task<void> respond_by_digest(ClientConnection& client, const http::RequestHead& head, const Route& route,
                                   const UpstreamChoice& upstream, std::span<const http::Header> accept,
                                   const std::string& target) {
  std::optional<Digest> digest = parse_sha256_digest(route.reference);
  if (!digest) {
    co_await relay_request(client, head, upstream, target, accept);
    co_return;
  }
  if (co_await serve_stored_manifest(client, *digest, {})) {
    client.set_outcome(CacheOutcome::Hit);
    co_return;
  }
  if (client.is_head_request()) {
    co_await relay_request(client, head, upstream, target, accept);
    co_return;
  }
  client.set_outcome(CacheOutcome::Miss);
  WorkerContext& worker = client.worker();
  SmallResponse answer;
  co_await fetch_small_authorized(worker, upstream, "GET", target, accept, worker.config.manifest_bytes_max, answer);
  if (answer.rc < 0) {
    co_await send_upstream_unavailable(client, answer.error);
    co_return;
  }
  if (answer.fields.status != 200) {
    co_await send_upstream_answer(client, answer.fields, answer.body);
    co_return;
  }
  if (answer.too_large) {
    co_await send_upstream_unavailable(client, "the manifest is larger than --manifest-bytes-max");
    co_return;
  }
  if (sha256_of(answer.body) != *digest) {
    // Never store or serve content under a digest it does not have.
    co_await send_upstream_unavailable(client, "the upstream's manifest does not match its digest");
    co_return;
  }
  co_await store_manifest(worker.store, *digest, answer.fields.content_type, answer.body);
  co_await send_upstream_answer(client, answer.fields, answer.body);
}

core::Task<void> respond_by_tag(ClientConnection& client, const http::RequestHead& head, const Route& route,
                                const UpstreamChoice& upstream, std::span<const http::Header> accept,
                                const std::string& target) {
  WorkerContext& worker = client.worker();
  uint8_t mask = 0;
  for (const http::Header& header : accept) mask |= accept_mask(header.value);
  TagKey key{upstream.endpoint.authority, upstream.name, route.reference, mask_key(mask)};

  SmallResponse answer;
  co_await fetch_small_authorized(worker, upstream, head.method, target, accept, worker.config.manifest_bytes_max,
                       answer);
  bool unhealthy = answer.rc < 0 || upstream_unhealthy(answer.fields.status);
  if (unhealthy) {
    TagEntry entry;
    if (co_await worker.tags.load(key, entry)) {
      std::array<http::Header, 1> warning{kStaleWarning};
      if (co_await serve_stored_manifest(client, entry.digest, warning)) {
        client.set_outcome(CacheOutcome::Stale);
        co_return;
      }
    }
    if (answer.rc < 0) {
      co_await send_upstream_unavailable(client, answer.error);
    } else {
      client.set_outcome(CacheOutcome::Pass);
      co_await send_upstream_answer(client, answer.fields, answer.body);
    }
    co_return;
  }
  client.set_outcome(CacheOutcome::Pass);
  if (answer.fields.status != 200 || client.is_head_request()) {
    co_await send_upstream_answer(client, answer.fields, answer.body);
    co_return;
  }
  if (answer.too_large) {
    co_await send_upstream_unavailable(client, "the manifest is larger than --manifest-bytes-max");
    co_return;
  }
  Digest digest = sha256_of(answer.body);
  if (!answer.fields.docker_content_digest.empty()) {
    std::optional<Digest> claimed = parse_sha256_digest(answer.fields.docker_content_digest);
    if (claimed && *claimed != digest) {
      co_await send_upstream_unavailable(client, "the upstream's manifest does not match its Docker-Content-Digest");
      co_return;
    }
  }
  client.set_outcome(CacheOutcome::Miss);
  if (co_await store_manifest(worker.store, digest, answer.fields.content_type, answer.body)) {
    TagEntry entry;
    entry.digest = digest;
    entry.size_bytes = answer.body.size();
    entry.confirmed_unix_ms = now_unix_ms();
    entry.media_type = answer.fields.content_type;
    co_await worker.tags.save(key, entry);
  }
  http::ResponseFields fields = answer.fields;
  if (fields.docker_content_digest.empty()) fields.docker_content_digest = to_string(digest);
  co_await send_upstream_answer(client, fields, answer.body);
}

}  // namespace

core::Task<void> respond_manifest(ClientConnection& client, const http::RequestHead& head, const Route& route,
                                  const UpstreamChoice& upstream) {
  std::array<http::Header, 8> accept_storage;
  size_t accept_count = collect_accept_headers(head, accept_storage);
  std::span<const http::Header> accept(accept_storage.data(), accept_count);
  std::string target = fmt::format("/v2/{}/manifests/{}", upstream.name, route.reference);
  if (route.reference_is_digest) {
    co_await respond_by_digest(client, head, route, upstream, accept, target);
  } else {
    co_await respond_by_tag(client, head, route, upstream, accept, target);
  }
}

}  // namespace regcache::registry
