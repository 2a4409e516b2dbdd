#include "registry/serve/manifest_responder.h"

#include <fmt/format.h>

#include <chrono>

#include "core/unix_time.h"
#include "registry/api/accept_kind.h"
#include "registry/api/image_size.h"
#include "registry/auth/upstream_auth.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/manifest_memory.h"
#include "registry/cache/manifest_store.h"
#include "registry/cache/media_type_name.h"
#include "registry/cache/sha256.h"
#include "registry/cache/single_flight.h"
#include "registry/cache/tag_store.h"
#include "registry/serve/client_access.h"
#include "registry/serve/image_rankings.h"
#include "registry/serve/stored_file.h"
#include "registry/serve/upstream_answer.h"

namespace regcache::registry {
namespace {

constexpr http::Header kStaleWarning{"Warning", "110 regcache \"Response is stale\""};

// Docker schema1 signed manifests (what distribution converts to for clients that do not accept
// schema2) are named by the digest of their payload without the JWS signatures, not of the bytes
// sent, and the signatures differ per conversion. They cannot be verified by sha256 of the body,
// so regcache relays them and never stores them.
bool is_signed_schema1(std::string_view media_type) {
  return media_type.starts_with(kMediaTypeDockerManifestV1Signed);
}

// A manifest from memory: head and body in one send.
core::Task<void> send_held_manifest(ClientConnection &client, const HeldManifest &held,
                                    std::span<const http::Header> extra_headers) {
  http::HeadWriter head = start_stored_head(client, held.media_type.view(), held.digest,
                                            held.bytes.size(), extra_headers);
  co_await client.send_head_and_body(head,
                                     std::span<const char>(held.bytes.data(), held.bytes.size()));
}

// A manifest from the store by digest; false when it is not there, or when the client's Accept
// excludes its media type (nothing sent then: the upstream answers such a client itself, as
// distribution does with a 404, so a Docker-schema2-only client never gets an OCI manifest).
// From memory when it is held or fits there (its first hit reads it in), else from its file.
core::Task<bool> serve_stored_manifest(ClientConnection &client, const Digest &digest,
                                       uint8_t accept,
                                       std::span<const http::Header> extra_headers) {
  BlobStore &store = client.worker().store;
  // Kept in this frame until the send is done: the memory may drop its entry meanwhile.
  HeldManifestRef held = co_await find_held_manifest(store, digest);
  if (!held) {
    bool rotten = false;
    held = co_await hold_stored_manifest(store, digest, &rotten);
    if (rotten)
      co_return false; // never served: fetched again
  }
  if (held) {
    if (!mask_accepts(accept, held->media_type.view()))
      co_return false;
    co_await send_held_manifest(client, *held, extra_headers);
    co_return true;
  }
  std::string media_type;
  bool known = co_await load_manifest_media_type(store, digest, media_type);
  if (!known || !mask_accepts(accept, media_type))
    co_return false;
  bool served = co_await serve_stored_file(client, digest, media_type, extra_headers);
  co_return served;
}

// The upstream's path of the manifest: built only when the upstream is asked.
std::string manifest_target(const UpstreamChoice &upstream, const Route &route) {
  return fmt::format("/v2/{}/manifests/{}", upstream.name, route.reference);
}

uint8_t accept_mask_of(std::span<const http::Header> accept) {
  uint8_t mask = 0;
  for (const http::Header &header : accept)
    mask |= accept_mask(header.value);
  return mask;
}

core::Task<void> respond_by_digest(ClientConnection &client, const http::RequestHead &head,
                                   const Route &route, const UpstreamChoice &upstream,
                                   std::span<const http::Header> accept) {
  std::optional<Digest> digest = parse_sha256_digest(route.reference);
  if (digest) {
    bool servable = co_await stored_content_serves(client, upstream, *digest);
    bool served = false;
    if (servable)
      served = co_await serve_stored_manifest(client, *digest, accept_mask_of(accept), {});
    if (served) {
      client.set_outcome(CacheOutcome::Hit);
      co_return;
    }
  }
  const std::string target = manifest_target(upstream, route);
  if (!digest) {
    co_await relay_request(client, head, upstream, target, accept);
    co_return;
  }
  if (client.is_head_request()) {
    co_await relay_request(client, head, upstream, target, accept);
    co_return;
  }
  client.set_outcome(CacheOutcome::Miss);
  WorkerContext &worker = client.worker();
  SmallResponse answer;
  co_await fetch_small_authorized(worker.upstreams, *client.generation().auth, upstream, "GET",
                                  target, accept, client.generation().config.manifest_bytes_max,
                                  answer);
  if (answer.rc < 0) {
    co_await send_upstream_failure(client, answer.rc, answer.error);
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
  if (is_signed_schema1(answer.fields.content_type)) {
    client.set_outcome(CacheOutcome::Pass);
    co_await send_upstream_answer(client, answer.fields, answer.body);
    co_return;
  }
  if (sha256_of(answer.body) != *digest) {
    // Never store or serve content under a digest it does not have.
    co_await send_upstream_unavailable(client, "the upstream's manifest does not match its digest");
    co_return;
  }
  co_await store_manifest(worker.store, *digest, answer.fields.content_type, answer.body,
                          provenance_mark(client.generation(), upstream));
  co_await send_upstream_answer(client, answer.fields, answer.body);
}

// Revalidation outcomes a leader reports to the followers of the same tag entry.
enum RevalidationOutcome : int {
  kEntryFresh = 1,        // the entry was confirmed or replaced just now: serve it
  kUpstreamUnhealthy = 2, // the upstream could not answer: serve the stale entry
  kAskYourself = 3,       // nothing shared: ask the upstream yourself
};

TagEntry entry_for(const Digest &digest, const SmallResponse &answer, uint8_t accept_mask) {
  TagEntry entry;
  entry.digest = digest;
  entry.size_bytes = answer.body.size();
  entry.confirmed_unix_ms = core::unix_now_ms();
  entry.media_type = intern_media_type(answer.fields.content_type); // empty: not remembered
  entry.accept_mask = accept_mask;
  return entry;
}

// The entry a 200 HEAD answer describes; false when it lacks what a client needs to trust a HEAD
// (digest, length and type), or names a schema1 manifest, which is never stored.
bool entry_from_head(const SmallResponse &probe, uint8_t accept_mask, TagEntry &out) {
  std::optional<Digest> digest = parse_sha256_digest(probe.fields.docker_content_digest);
  if (!digest || !probe.fields.has_content_length || probe.fields.content_type.empty() ||
      is_signed_schema1(probe.fields.content_type))
    return false;
  out.digest = *digest;
  out.size_bytes = probe.fields.content_length;
  out.confirmed_unix_ms = core::unix_now_ms();
  out.media_type = intern_media_type(probe.fields.content_type);
  out.accept_mask = accept_mask;
  return !out.media_type.empty(); // a type no table holds: the GET path, never remembered
}

// A HEAD answered from the tag entry alone, with no file opened: the digest and the length
// (containerd and dockerd trust a HEAD only with both, and otherwise send a GET, which Docker
// Hub counts as a pull) and the type.
core::Task<void> answer_head_from_entry(ClientConnection &client, const TagEntry &entry,
                                        std::span<const http::Header> extra_headers) {
  http::HeadWriter head = start_stored_head(client, entry.media_type.view(), entry.digest,
                                            entry.size_bytes, extra_headers);
  co_await client.send_head(head);
}

// The manifest a tag entry names: a HEAD from the entry, a GET from the store. False when a
// GET's bytes are not stored (a HEAD miss records the entry first; the client's GET by digest
// usually stores them next).
core::Task<bool> serve_tag_entry(ClientConnection &client, const TagEntry &entry,
                                 std::span<const http::Header> extra_headers) {
  if (client.is_head_request()) {
    co_await answer_head_from_entry(client, entry, extra_headers);
    co_return true;
  }
  // The entry was chosen for this client's Accept (TagStore::load), so its type is acceptable.
  bool served = co_await serve_stored_manifest(client, entry.digest, kAcceptMaskAll, extra_headers);
  co_return served;
}

core::Task<void> serve_stale_or_error(ClientConnection &client, const TagKey &key,
                                      uint8_t accept_mask, const SmallResponse &answer) {
  TagEntry entry;
  bool have_entry = co_await client.worker().tags.load(key, accept_mask, entry);
  if (have_entry) {
    std::array<http::Header, 1> warning{kStaleWarning};
    bool served = co_await serve_tag_entry(client, entry, warning);
    if (served) {
      client.set_outcome(CacheOutcome::Stale);
      co_return;
    }
  }
  if (answer.rc < 0) {
    co_await send_upstream_failure(client, answer.rc, answer.error);
  } else {
    client.set_outcome(CacheOutcome::Pass);
    co_await send_upstream_answer(client, answer.fields, answer.body);
  }
}

// A 200 GET answer for a tag: verified against the upstream's digest claim, stored by digest,
// remembered for the tag. False (and the client answered with 502) when it cannot be trusted.
// `entry` is what was remembered (its digest is zero for a relayed schema1 manifest).
core::Task<bool> accept_tag_manifest(ClientConnection &client, ProvenanceMark mark,
                                     const TagKey &key, uint8_t accept_mask, SmallResponse &answer,
                                     TagEntry &entry) {
  if (answer.too_large) {
    // Only a prefix was read: it must never go out as a complete answer.
    co_await send_upstream_unavailable(client, "the manifest is larger than --manifest-bytes-max");
    co_return false;
  }
  if (is_signed_schema1(answer.fields.content_type)) {
    // Relayed, never stored: see is_signed_schema1.
    client.set_outcome(CacheOutcome::Pass);
    co_return true;
  }
  Digest digest = sha256_of(answer.body);
  if (!answer.fields.docker_content_digest.empty()) {
    std::optional<Digest> claimed = parse_sha256_digest(answer.fields.docker_content_digest);
    if (claimed && *claimed != digest) {
      co_await send_upstream_unavailable(
          client, "the upstream's manifest does not match its Docker-Content-Digest");
      co_return false;
    }
  }
  WorkerContext &worker = client.worker();
  bool stored =
      co_await store_manifest(worker.store, digest, answer.fields.content_type, answer.body, mark);
  entry = entry_for(digest, answer, accept_mask);
  if (stored)
    co_await worker.tags.save(key, entry);
  if (worker.image_rankings != nullptr) {
    if (std::optional<uint64_t> image_bytes = image_bytes_of_manifest(answer.body))
      worker.image_rankings->note_size(key.name, key.tag, *image_bytes);
  }
  if (answer.fields.docker_content_digest.empty())
    answer.fields.docker_content_digest = to_string(digest);
  co_return true;
}

// A GET of the tag upstream for a client: stored, remembered and sent (a HEAD client gets the
// head of it).
core::Task<void> get_tag_for_client(ClientConnection &client, const UpstreamChoice &upstream,
                                    std::span<const http::Header> accept, const std::string &target,
                                    const TagKey &key, uint8_t accept_mask) {
  WorkerContext &worker = client.worker();
  SmallResponse answer;
  co_await fetch_small_authorized(worker.upstreams, *client.generation().auth, upstream, "GET",
                                  target, accept, client.generation().config.manifest_bytes_max,
                                  answer);
  if (answer.rc < 0 || upstream_unhealthy(answer.fields.status)) {
    co_await serve_stale_or_error(client, key, accept_mask, answer);
    co_return;
  }
  client.set_outcome(CacheOutcome::Pass);
  if (answer.fields.status != 200) {
    co_await send_upstream_answer(client, answer.fields, answer.body);
    co_return;
  }
  client.set_outcome(CacheOutcome::Miss);
  TagEntry entry;
  bool accepted = co_await accept_tag_manifest(
      client, provenance_mark(client.generation(), upstream), key, accept_mask, answer, entry);
  if (accepted)
    co_await send_upstream_answer(client, answer.fields, answer.body);
}

// A tag regcache has no entry for. A HEAD asks the upstream with a HEAD (free on Docker Hub's
// rate limit, where a GET by tag counts as a pull) and remembers the answer; the client's GET by
// digest that follows stores the manifest itself. Only an upstream whose HEAD lacks the digest
// or length is asked with a GET, since the client could not trust the HEAD either.
core::Task<void> ask_upstream(ClientConnection &client, const UpstreamChoice &upstream,
                              std::span<const http::Header> accept, const std::string &target,
                              const TagKey &key, uint8_t accept_mask) {
  if (!client.is_head_request()) {
    co_await get_tag_for_client(client, upstream, accept, target, key, accept_mask);
    co_return;
  }
  WorkerContext &worker = client.worker();
  SmallResponse probe;
  co_await fetch_small_authorized(worker.upstreams, *client.generation().auth, upstream, "HEAD",
                                  target, accept, client.generation().config.manifest_bytes_max,
                                  probe);
  if (probe.rc < 0 || upstream_unhealthy(probe.fields.status)) {
    co_await serve_stale_or_error(client, key, accept_mask, probe);
    co_return;
  }
  client.set_outcome(CacheOutcome::Pass);
  if (probe.fields.status != 200 || is_signed_schema1(probe.fields.content_type)) {
    co_await send_upstream_answer(client, probe.fields, probe.body);
    co_return;
  }
  TagEntry entry;
  if (!entry_from_head(probe, accept_mask, entry)) {
    co_await get_tag_for_client(client, upstream, accept, target, key, accept_mask);
    co_return;
  }
  client.set_outcome(CacheOutcome::Miss);
  co_await worker.tags.save(key, entry);
  co_await answer_head_from_entry(client, entry, {});
}

// An expired entry: one HEAD upstream. Unchanged digest: renew the entry and serve it. Changed:
// a HEAD client gets the new entry from the HEAD itself; a GET client costs one GET, stored and
// served. Down/5xx/429: the stale entry. Returns the outcome to share with followers;
// `answered` tells whether the client got its answer.
core::Task<int> revalidate(ClientConnection &client, const UpstreamChoice &upstream,
                           std::span<const http::Header> accept, const std::string &target,
                           const TagKey &key, uint8_t accept_mask, TagEntry &entry,
                           bool &answered) {
  WorkerContext &worker = client.worker();
  answered = false;
  SmallResponse probe;
  co_await fetch_small_authorized(worker.upstreams, *client.generation().auth, upstream, "HEAD",
                                  target, accept, client.generation().config.manifest_bytes_max,
                                  probe);
  if (probe.rc < 0 || upstream_unhealthy(probe.fields.status))
    co_return kUpstreamUnhealthy;
  if (probe.fields.status == 200) {
    std::optional<Digest> current = parse_sha256_digest(probe.fields.docker_content_digest);
    if (current && *current == entry.digest) {
      // Confirmed for this client's Accept (the entry may have been another Accept's answer).
      entry.confirmed_unix_ms = core::unix_now_ms();
      entry.accept_mask = accept_mask;
      co_await worker.tags.save(key, entry);
      co_return kEntryFresh;
    }
    TagEntry changed;
    if (client.is_head_request() && entry_from_head(probe, accept_mask, changed)) {
      co_await worker.tags.save(key, changed);
      co_return kEntryFresh;
    }
    if (!client.is_head_request()) {
      // Changed: the one GET of this revalidation.
      SmallResponse answer;
      co_await fetch_small_authorized(worker.upstreams, *client.generation().auth, upstream, "GET",
                                      target, accept, client.generation().config.manifest_bytes_max,
                                      answer);
      if (answer.rc < 0 || upstream_unhealthy(answer.fields.status))
        co_return kUpstreamUnhealthy;
      answered = true;
      if (answer.fields.status != 200) {
        client.set_outcome(CacheOutcome::Pass);
        co_await send_upstream_answer(client, answer.fields, answer.body);
        co_return kAskYourself;
      }
      client.set_outcome(CacheOutcome::Miss);
      bool accepted =
          co_await accept_tag_manifest(client, provenance_mark(client.generation(), upstream), key,
                                       accept_mask, answer, changed);
      if (!accepted)
        co_return kAskYourself;
      co_await send_upstream_answer(client, answer.fields, answer.body);
      co_return kEntryFresh;
    }
  }
  // A 404/401 for the tag, or a HEAD answer a client cannot trust: relay the upstream's answer
  // and leave the entry.
  answered = true;
  client.set_outcome(CacheOutcome::Pass);
  co_await send_upstream_answer(client, probe.fields, probe.body);
  co_return kAskYourself;
}

// The status page's most-pulled images: a GET by tag that the client got a manifest for.
void count_tag_pull(ClientConnection &client, const UpstreamChoice &upstream, const Route &route) {
  ImageRankings *rankings = client.worker().image_rankings;
  if (rankings == nullptr || client.is_head_request())
    return;
  switch (client.outcome()) {
  case CacheOutcome::Hit:
  case CacheOutcome::Revalidated:
  case CacheOutcome::Miss:
  case CacheOutcome::Stale:
    rankings->count_pull(upstream.name, route.reference);
    return;
  case CacheOutcome::None:
  case CacheOutcome::Follow:
  case CacheOutcome::Pass:
  case CacheOutcome::Error:
  case CacheOutcome::Push:
    return;
  }
}

core::Task<void> respond_by_tag(ClientConnection &client, const Route &route,
                                const UpstreamChoice &upstream,
                                std::span<const http::Header> accept) {
  WorkerContext &worker = client.worker();
  const uint8_t mask = accept_mask_of(accept);
  const TagKey key{upstream.endpoint.authority, upstream.name, route.reference};
  uint64_t ttl_ms =
      worker.generation.ttl_ms(client.generation(), upstream.config, route.name, route.reference);

  TagEntry entry;
  bool have_entry = co_await worker.tags.load(key, mask, entry);
  if (have_entry && ttl_ms > 0 &&
      core::unix_now_ms() - entry.confirmed_unix_ms < static_cast<int64_t>(ttl_ms)) {
    bool served = co_await serve_tag_entry(client, entry, {});
    if (served) {
      client.set_outcome(CacheOutcome::Hit);
      co_return;
    }
    have_entry = false; // the manifest bytes are not stored: ask again
  }
  const std::string target = manifest_target(upstream, route);
  if (have_entry) {
    // One revalidation per tag and Accept mask at a time; followers share its outcome.
    std::string flight_key;
    tag_entries_path(key, flight_key);
    flight_key.append("/").append(mask_key(mask));
    SingleFlight::Joined joined = co_await worker.revalidations.join(flight_key);
    int outcome = joined.outcome;
    bool answered = false;
    if (joined.leader) {
      outcome = co_await revalidate(client, upstream, accept, target, key, mask, entry, answered);
      worker.revalidations.finish(flight_key, outcome);
      if (answered)
        co_return;
    }
    if (outcome == kEntryFresh) {
      TagEntry renewed;
      bool reloaded = co_await worker.tags.load(key, mask, renewed);
      if (reloaded) {
        bool served = co_await serve_tag_entry(client, renewed, {});
        if (served) {
          client.set_outcome(CacheOutcome::Revalidated);
          co_return;
        }
      }
    } else if (outcome == kUpstreamUnhealthy) {
      SmallResponse unreachable;
      unreachable.rc = -EHOSTUNREACH;
      unreachable.error = "the upstream could not revalidate the tag";
      co_await serve_stale_or_error(client, key, mask, unreachable);
      co_return;
    }
  }
  co_await ask_upstream(client, upstream, accept, target, key, mask);
}

} // namespace

core::Task<void> respond_manifest(ClientConnection &client, const http::RequestHead &head,
                                  const Route &route, const UpstreamChoice &upstream) {
  std::array<http::Header, 8> accept_storage;
  size_t accept_count = collect_accept_headers(head, accept_storage);
  std::span<const http::Header> accept(accept_storage.data(), accept_count);
  if (route.reference_is_digest) {
    co_await respond_by_digest(client, head, route, upstream, accept);
  } else {
    co_await respond_by_tag(client, route, upstream, accept);
    count_tag_pull(client, upstream, route);
  }
}

} // namespace regcache::registry
