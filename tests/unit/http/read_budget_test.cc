// The limits on an upstream response's reads, with made-up waits: silence is counted across
// reads cut short, a rate floor is judged when its window of waiting ends, and fast reads are
// never judged at all.
#include "http/read_budget.h"

#include <gtest/gtest.h>

#include <chrono>

namespace regcache::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Verdict = ReadBudget::Verdict;

TEST(ReadBudgetTest, WithoutAFloorTheNextWaitIsTheSilenceLimitOrTheCallersCap) {
  ReadBudget budget(ReadLimits{1000, 0, 60000});
  EXPECT_EQ(budget.next_wait_ms(0), 1000u);
  EXPECT_EQ(budget.next_wait_ms(40), 40u);
  EXPECT_EQ(budget.next_wait_ms(5000), 1000u);
}

TEST(ReadBudgetTest, SilenceIsCountedAcrossReadsCutShort) {
  ReadBudget budget(ReadLimits{1000, 0, 60000});
  EXPECT_EQ(budget.account(0, milliseconds(400)), Verdict::Continue);
  EXPECT_EQ(budget.account(0, milliseconds(400)), Verdict::Continue);
  EXPECT_EQ(budget.next_wait_ms(0), 200u);
  EXPECT_EQ(budget.account(0, milliseconds(200)), Verdict::Silent);
}

TEST(ReadBudgetTest, AByteEndsTheSilence) {
  ReadBudget budget(ReadLimits{1000, 0, 60000});
  EXPECT_EQ(budget.account(0, milliseconds(900)), Verdict::Continue);
  EXPECT_EQ(budget.account(1, milliseconds(50)), Verdict::Continue);
  EXPECT_EQ(budget.next_wait_ms(0), 1000u);
  EXPECT_EQ(budget.account(0, milliseconds(900)), Verdict::Continue);
}

TEST(ReadBudgetTest, ATrickleBelowTheFloorIsTooSlowWhenItsWindowEnds) {
  ReadBudget budget(ReadLimits{60000, 100, 3000});
  EXPECT_EQ(budget.account(1, seconds(1)), Verdict::Continue);
  EXPECT_EQ(budget.account(1, seconds(1)), Verdict::Continue);
  EXPECT_EQ(budget.account(1, seconds(1)), Verdict::TooSlow);
  EXPECT_EQ(budget.slow_window_bytes(), 3u);
  EXPECT_EQ(budget.slow_window_ms(), 3000u);
}

TEST(ReadBudgetTest, TheNextWaitEndsWithTheRateWindow) {
  ReadBudget budget(ReadLimits{60000, 100, 3000});
  EXPECT_EQ(budget.next_wait_ms(0), 3000u);
  EXPECT_EQ(budget.account(1000, seconds(2)), Verdict::Continue);
  EXPECT_EQ(budget.next_wait_ms(0), 1000u);
}

TEST(ReadBudgetTest, AWindowWithBytesEnoughStartsTheNext) {
  ReadBudget budget(ReadLimits{60000, 100, 3000});
  EXPECT_EQ(budget.account(300, seconds(3)), Verdict::Continue);
  EXPECT_EQ(budget.next_wait_ms(0), 3000u);
  // The next window is judged on its own bytes, not on the first one's.
  EXPECT_EQ(budget.account(299, seconds(3)), Verdict::TooSlow);
  EXPECT_EQ(budget.slow_window_bytes(), 299u);
}

TEST(ReadBudgetTest, ReadsThatDoNotWaitAreNeverJudged) {
  ReadBudget budget(ReadLimits{60000, 100, 3000});
  for (int read = 0; read < 100000; ++read)
    ASSERT_EQ(budget.account(1, milliseconds(0)), Verdict::Continue);
}

TEST(ReadBudgetTest, AFloorOfZeroJudgesNothing) {
  ReadBudget budget(ReadLimits{60000, 0, 3000});
  EXPECT_EQ(budget.account(0, seconds(30)), Verdict::Continue);
  EXPECT_EQ(budget.next_wait_ms(0), 30000u);
}

TEST(ReadBudgetTest, ARestartForgetsTheWaitsOfTheLastResponse) {
  ReadBudget budget(ReadLimits{1000, 100, 3000});
  EXPECT_EQ(budget.account(0, milliseconds(900)), Verdict::Continue);
  budget.restart();
  EXPECT_EQ(budget.next_wait_ms(0), 1000u);
  EXPECT_EQ(budget.account(0, milliseconds(900)), Verdict::Continue);
}

TEST(ReadBudgetTest, TheNextWaitIsAtLeastOneMillisecond) {
  ReadBudget budget(ReadLimits{1000, 0, 60000});
  EXPECT_EQ(budget.account(0, std::chrono::microseconds(999'900)), Verdict::Continue);
  EXPECT_EQ(budget.next_wait_ms(0), 1u);
}

} // namespace
} // namespace regcache::http
