#include "api/cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace vecmesh::cli {
namespace {

// "1:02:03" or "2:03".
std::string Duration(double seconds) {
  const auto s = static_cast<long long>(std::max(0.0, std::round(seconds)));
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", s / 60, s % 60);
  }
  return text;
}

constexpr int kBarWidth = 30;

// The width of the terminal on stderr, where the bar is drawn; 80 if it does not say.
size_t TerminalColumns() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

}  // namespace

Progress::Progress(std::ostream& out, bool terminal, std::string what, uint64_t resumed_points,
                   double resumed_fraction, std::chrono::milliseconds line_interval)
    : out_(out),
      terminal_(terminal),
      what_(std::move(what)),
      line_interval_(line_interval),
      first_done_(resumed_points),
      first_fraction_(resumed_fraction),
      columns_(terminal ? TerminalColumns() : 0) {}

void Progress::Update(uint64_t done, std::optional<uint64_t> total, double fraction) {
  const auto now = Clock::now();
  // A bar redraws ten times a second at most; plain lines come every line_interval_.
  const auto every = terminal_ ? std::chrono::milliseconds(100) : line_interval_;
  if (last_ != Clock::time_point::min() && now - last_ < every) return;
  last_ = now;
  Draw(done, total, fraction);
}

void Progress::Finish(uint64_t done, bool complete) {
  Draw(done, complete ? std::optional<uint64_t>(done) : std::nullopt, complete ? 1.0 : -1.0);
  if (terminal_) out_ << '\n';
  drawn_ = false;
  out_.flush();
}

void Progress::Clear() {
  if (!drawn_) return;
  out_ << "\r\x1b[K";
  drawn_ = false;
  last_ = Clock::time_point::min();  // redrawn at the next update
}

void Progress::Draw(uint64_t done, std::optional<uint64_t> total, double fraction) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  // A resumed import can end below where it began (a failed job's points sent again).
  const double rate =
      seconds > 0
          ? std::max(0.0, (static_cast<double>(done) - static_cast<double>(first_done_)) / seconds)
          : 0;
  std::string line = what_ + ": " + std::to_string(done);
  if (total) {
    line += '/';
    line += std::to_string(*total);
  }
  line += " points";
  char figures[96];
  if (fraction >= 0) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    std::snprintf(figures, sizeof figures, " %5.1f%%", fraction * 100);
    line += figures;
  }
  std::snprintf(figures, sizeof figures, ", %.0f points/s", rate);
  line += figures;
  // Time left: the work still to do at the rate of this run so far.
  if (fraction > 0 && fraction < 1 && seconds > 0) {
    const double done_fraction_this_run = fraction - first_fraction_;
    if (done_fraction_this_run > 0) {
      line += ", ETA ";
      line += Duration(seconds * (1 - fraction) / done_fraction_this_run);
    }
  }
  if (!terminal_) {
    out_ << line << '\n';
    out_.flush();
    return;
  }
  std::string bar(kBarWidth, ' ');
  if (fraction >= 0) {
    std::fill_n(bar.begin(), static_cast<int>(std::round(fraction * kBarWidth)), '#');
  }
  // Redrawn in place: back to the line's start, and the rest of the old line cleared. A line as
  // wide as the terminal would wrap, and \r would then redraw only its last row.
  line = "[" + bar + "] " + line;
  if (columns_ > 1 && line.size() >= columns_) line.resize(columns_ - 1);
  out_ << '\r' << line << "\x1b[K";
  drawn_ = true;
  out_.flush();
}

}  // namespace vecmesh::cli
