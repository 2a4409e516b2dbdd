// The connection cap from the fd limit: what is reserved for upstreams and the worker's own fds
// comes first, three quarters of the rest are connections, an explicit lower --connections-max
// is kept, and a limit too low for the upstream bounds still leaves a small working cap.
#include "registry/daemon/connection_budget.h"

#include <gtest/gtest.h>

#include "registry/config/config.h"

namespace regcache::registry {
namespace {

ConnectionBudgetInputs defaults_with(uint64_t fd_limit, unsigned workers = 1) {
  ConnectionBudgetInputs inputs;
  inputs.fd_limit = fd_limit;
  inputs.workers = workers;
  inputs.connections_max = kConnectionsMaxFromFdLimit;
  inputs.upstream_active_max = 256;
  inputs.upstream_idle_max = 256;
  inputs.fetches_max = 64;
  return inputs;
}

uint64_t reserved_per_worker(const ConnectionBudgetInputs &inputs) {
  return uint64_t{inputs.upstream_active_max} + inputs.upstream_idle_max + inputs.fetches_max +
         kWorkerFds + kRefusalsInFlightMax;
}

TEST(ConnectionBudgetTest, CapIsThreeQuartersOfWhatTheUpstreamBoundsLeave) {
  const ConnectionBudgetInputs inputs = defaults_with(20000);
  const ConnectionBudget budget = plan_connection_budget(inputs);
  const uint64_t left = 20000 - kProcessFds - reserved_per_worker(inputs);
  EXPECT_EQ(budget.connections_max, left / 4 * 3);
  EXPECT_EQ(budget.fd_connections_max, budget.connections_max);
  EXPECT_TRUE(budget.limited_by_fds);
  EXPECT_FALSE(budget.fd_limit_too_low);
  EXPECT_EQ(budget.pipes_max, left / 16);
}

TEST(ConnectionBudgetTest, EveryFdIsAccountedForAtTheCap) {
  // Connections, pipes (two fds each), the files of responses, the upstream bounds and the
  // fixed fds never add up to more than the limit.
  for (uint64_t limit : {1024u, 4096u, 20000u, 65536u, 1048576u}) {
    for (unsigned workers : {1u, 2u, 8u}) {
      const ConnectionBudgetInputs inputs = defaults_with(limit, workers);
      const ConnectionBudget budget = plan_connection_budget(inputs);
      if (budget.fd_limit_too_low)
        continue;
      const uint64_t left = (limit - kProcessFds) / workers - reserved_per_worker(inputs);
      const uint64_t files = left / 8;
      const uint64_t used =
          kProcessFds + workers * (reserved_per_worker(inputs) + budget.connections_max +
                                   2 * uint64_t{budget.pipes_max} + files);
      EXPECT_LE(used, limit) << limit << " fds, " << workers << " workers";
    }
  }
}

TEST(ConnectionBudgetTest, WorkersShareTheLimit) {
  const ConnectionBudget one = plan_connection_budget(defaults_with(65536, 1));
  const ConnectionBudget four = plan_connection_budget(defaults_with(65536, 4));
  EXPECT_LT(uint64_t{four.connections_max} * 4, uint64_t{one.connections_max});
  EXPECT_GT(four.connections_max, one.connections_max / 5);
}

TEST(ConnectionBudgetTest, ExplicitLowerCapIsKept) {
  ConnectionBudgetInputs inputs = defaults_with(20000);
  inputs.connections_max = 100;
  const ConnectionBudget budget = plan_connection_budget(inputs);
  EXPECT_EQ(budget.connections_max, 100u);
  EXPECT_FALSE(budget.limited_by_fds);
  EXPECT_GT(budget.fd_connections_max, 100u);
  EXPECT_LE(budget.pipes_max, 100u); // never more pipes than connections to use them
}

TEST(ConnectionBudgetTest, ExplicitHigherCapIsLoweredToWhatTheFdLimitAllows) {
  ConnectionBudgetInputs inputs = defaults_with(4096);
  inputs.connections_max = 100000;
  const ConnectionBudget budget = plan_connection_budget(inputs);
  EXPECT_EQ(budget.connections_max, budget.fd_connections_max);
  EXPECT_LT(budget.connections_max, 4096u);
  EXPECT_TRUE(budget.limited_by_fds);
}

TEST(ConnectionBudgetTest, SoftLimitOf1024LeavesAWorkingCap) {
  const ConnectionBudget budget = plan_connection_budget(defaults_with(1024));
  EXPECT_FALSE(budget.fd_limit_too_low);
  EXPECT_GE(budget.connections_max, 200u);
  EXPECT_LT(budget.connections_max, 1024u);
  EXPECT_GE(budget.pipes_max, 1u);
}

TEST(ConnectionBudgetTest, LimitBelowTheUpstreamBoundsGivesTheFloorAndSaysSo) {
  const ConnectionBudget budget = plan_connection_budget(defaults_with(1024, 8));
  EXPECT_TRUE(budget.fd_limit_too_low);
  EXPECT_EQ(budget.connections_max, kConnectionsFloor);
  EXPECT_EQ(budget.pipes_max, 1u);
}

TEST(ConnectionBudgetTest, HugeLimitsStayInThirtyTwoBits) {
  ConnectionBudgetInputs inputs = defaults_with(uint64_t{1} << 40);
  const ConnectionBudget budget = plan_connection_budget(inputs);
  EXPECT_EQ(budget.fd_connections_max, UINT32_MAX);
  EXPECT_EQ(budget.connections_max, UINT32_MAX);
}

} // namespace
} // namespace regcache::registry
