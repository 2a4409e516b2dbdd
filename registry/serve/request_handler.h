#pragma once
// Routes one parsed request of the pull API to its responder. Everything the grammar rejects is
// answered here with the spec's error JSON, and nothing reaches an upstream for it.
#include "core/task.h"
#include "http/message_head.h"

namespace regcache::registry {

class ClientConnection;
struct WorkerContext;

// Answers one request of the pull API (a RequestHandler).
core::Task<void> handle_request(ClientConnection &client, const http::RequestHead &request);

// Serves one accepted socket until it closes; spawned by the server for every accept.
core::Task<void> serve_client(WorkerContext &worker, int fd);
// A connection to the --metrics-listen listener: the operations endpoints only.
core::Task<void> serve_ops_client(WorkerContext &worker, int fd);

} // namespace regcache::registry
