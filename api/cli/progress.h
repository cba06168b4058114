// The progress of a long command (an import): on a terminal a bar redrawn in place (points,
// percent, rate, time left), otherwise a plain line now and then, for logs.
//
// Not thread-safe: one thread reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace vecmesh::cli {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  // `terminal`: draw a bar on stderr's terminal, no wider than it (else plain lines every
  // `line_interval`). `what` names the work ("import docs.fvecs"); `resumed_points` and
  // `resumed_fraction` were done before this run (a resumed import): not in its rate and time
  // left.
  Progress(std::ostream& out, bool terminal, std::string what, uint64_t resumed_points,
           double resumed_fraction,
           std::chrono::milliseconds line_interval = std::chrono::seconds(5));

  // `done` points of `total` (unknown: nullopt), and `fraction` of the work, 0 to 1, for the
  // percent and the time left (bytes read, where the total of points is not known).
  void Update(uint64_t done, std::optional<uint64_t> total, double fraction);
  // The last report, at 100% when `complete`: the bar is drawn once more and its line ended.
  void Finish(uint64_t done, bool complete);
  // Before another message on the same stream: the bar's line is cleared (the next Update
  // draws it again below the message).
  void Clear();

 private:
  void Draw(uint64_t done, std::optional<uint64_t> total, double fraction);

  std::ostream& out_;
  const bool terminal_;
  const std::string what_;
  const std::chrono::milliseconds line_interval_;
  const Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = Clock::time_point::min();
  const uint64_t first_done_;    // points done before this run (a resumed import)
  const double first_fraction_;  // and the fraction of the work
  const size_t columns_;         // the terminal's width: a bar line stays shorter
  bool drawn_ = false;           // a bar is on the terminal's current line
};

}  // namespace vecmesh::cli
