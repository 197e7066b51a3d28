// The thread pool under back-to-back jobs: every task of every job must run exactly once. Tiny jobs
// on more threads than cores make workers wake late, after the caller has done all the tasks and
// moved on: the case that once let a late worker take a task index of the next job before its
// counter was reset, so that task ran twice (a rare doubled accumulate in test_gemm).
#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/cpu/thread_pool.h"
#include "harness.h"

using sd::cpu::ThreadPool;

namespace {

constexpr int kRing = 8;     // jobs whose functions and counters stay alive at once
constexpr int kMaxTasks = 64;

// Small jobs then large ones: a late worker still counting tasks of a small job would land inside
// the next large job's range and run one of its tasks a second time.
int tasks_of(int job) { return job % 2 ? kMaxTasks : 2 + job % 3; }

void stress(int threads, int jobs) {
  ThreadPool pool(threads);
  std::atomic<int> hits[kRing][kMaxTasks];
  for (auto& row : hits)
    for (auto& h : row) h.store(0);
  std::vector<std::function<void(int64_t, int)>> fns(kRing);
  std::atomic<int> bad_thread{0};
  int wrong = 0;
  for (int j = 0; j < jobs; ++j) {
    const int slot = j % kRing, n = tasks_of(j);
    for (auto& h : hits[slot]) h.store(0);
    fns[slot] = [&, slot](int64_t task, int thread) {
      if (thread < 0 || thread >= pool.size()) ++bad_thread;
      hits[slot][task].fetch_add(1);
    };
    pool.run(n, fns[slot]);
    for (int t = 0; t < kMaxTasks; ++t)
      if (hits[slot][t].load() != (t < n ? 1 : 0)) ++wrong;
    // a straggler of the previous job would show up as an extra hit there
    const int prev = (j + kRing - 1) % kRing, n_prev = tasks_of(j - 1);
    if (j > 0)
      for (int t = 0; t < kMaxTasks; ++t)
        if (hits[prev][t].load() != (t < n_prev ? 1 : 0)) ++wrong;
  }
  CHECK_MSG(wrong == 0, std::to_string(threads) + " threads, " + std::to_string(jobs) + " jobs: " +
                            std::to_string(wrong) + " task counts wrong");
  CHECK_MSG(bad_thread.load() == 0, "thread index out of range");
}

}  // namespace

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::atoi(argv[1]) : 300000;  // the old race showed at 200k every run
  for (int threads : {2, 3, 8}) stress(threads, jobs);
  std::printf("test_thread_pool: %d checks, %d failed\n", harness::checks(), harness::failures());
  return harness::failures() ? 1 : 0;
}
