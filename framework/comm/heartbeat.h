#pragma once
// Heartbeats beside MPI: every rank other than 0 sends rank 0 a small UDP
// datagram every kInterval seconds from a thread of its own, and rank 0's
// listener thread records when it last heard each rank. They are what rank
// 0's watchdog line uses to name a rank that can no longer be heard (its
// host cut off, its process killed or stopped) when a collective stalls:
// the arrival check (comm::Backend::arrive) alone cannot, because a cut
// that lands inside an all-reduce comes after every rank reached the step.
//
// The listener can also raise an alarm: set_alarm(s) makes its thread call
// `on_silence(rank, seconds, false)` once when a rank it has heard has been
// silent for more than s seconds, and `on_silence(rank, seconds, true)` when
// that rank is heard again; the job's own loss detection (the launcher's)
// may end the job any moment after a host is lost, so this is the message
// that must come first.
//
// Contract: best effort and never on the training path. No MPI call (the
// threads are not MPI threads). A socket that cannot be made leaves that
// rank without heartbeats (listen() returns nullptr; silent_for() then has
// no answer): the job runs as before. A datagram carries the job's nonce,
// so that another job's heartbeats on a reused port are ignored. Ranks
// never heard from (UDP filtered between hosts) are not reported as lost.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace metacat::comm {

class Heartbeat {
 public:
  static constexpr double kInterval = 0.5;  // seconds between datagrams
  // Where the listener is reached: its port and its IPv4 addresses (network
  // byte order; loopback last).
  struct Address {
    uint16_t port = 0;
    std::vector<uint32_t> ipv4;
  };

  using OnSilence = std::function<void(int rank, double seconds, bool heard_again)>;
  // Rank 0: listens for `world` - 1 ranks; nullptr when no socket can be made.
  static std::unique_ptr<Heartbeat> listen(int world, uint64_t nonce, OnSilence on_silence = {});
  // Other ranks: sends to every address of `to` (loopback only when
  // `same_host`); nullptr when no socket can be made.
  static std::unique_ptr<Heartbeat> send(int rank, uint64_t nonce, const Address& to,
                                         bool same_host);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  Address address() const { return address_; }
  // Listener: seconds since `rank` was last heard; negative when it never was.
  double silent_for(int rank) const;
  // Listener: raise the alarm after `seconds` of silence (0: never).
  void set_alarm(double seconds) { alarm_ = seconds; }

 private:
  Heartbeat() = default;
  void listen_loop();
  void send_loop(std::vector<uint32_t> to);
  int fd_ = -1;
  uint64_t nonce_ = 0;
  int rank_ = 0;
  Address address_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<double> heard_;  // per rank: steady-clock seconds, < 0 never
  std::vector<char> alarmed_;  // per rank: the alarm was raised and not yet cleared
  std::atomic<double> alarm_{0};
  OnSilence on_silence_;
  std::thread thread_;
};

}  // namespace metacat::comm
