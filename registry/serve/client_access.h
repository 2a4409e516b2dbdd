#pragma once
// Client access control on the request path: who the client is (Basic, or a token from
// regcache's own token endpoint), the token endpoint itself (the distribution token flow, so
// `docker login regcache:3128` works), and whether a client may use an upstream.
#include <optional>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "registry/api/digest.h"
#include "registry/auth/client_auth.h"
#include "registry/cache/limited_marks.h"
#include "registry/serve/client_connection.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

inline constexpr std::string_view kTokenPath = "/v2/token";
inline constexpr std::string_view kTokenService = "regcache";

// The client of `request`, or nullopt after answering it (401 for bad credentials, 503 when
// too many password checks are running). Anonymous when client authentication is off.
core::Task<std::optional<ClientIdentity>> identify_client(ClientConnection &client,
                                                          const http::RequestHead &request);

// 401 UNAUTHORIZED with regcache's Bearer challenge, whose realm is this host's /v2/token.
core::Task<int> send_login_challenge(ClientConnection &client, const http::RequestHead &request,
                                     std::string_view message);

// GET /v2/token: a token for the Basic-authenticated user, or an anonymous one without
// credentials; 401 for wrong ones.
core::Task<void> respond_token(ClientConnection &client, const http::RequestHead &request);

// True when `identity` may pull through `upstream`; otherwise answers (401 with the challenge
// for an anonymous client, 403 DENIED for a user not admitted) and returns false.
core::Task<bool> admit_to_upstream(ClientConnection &client, const http::RequestHead &request,
                                   const UpstreamChoice &upstream, const ClientIdentity &identity);

// Which provenance mark content stored through `upstream` gets (cache/limited_marks.h):
// Untracked while no upstream is limited.
ProvenanceMark provenance_mark(const ConfigGeneration &generation, const UpstreamChoice &upstream);

// Whether stored content of `digest` may answer a request routed to `upstream`: not when it
// came only through limited upstreams and this route is open to every client.
core::Task<bool> stored_content_serves(ClientConnection &client, const UpstreamChoice &upstream,
                                       const Digest &digest);

} // namespace regcache::registry
