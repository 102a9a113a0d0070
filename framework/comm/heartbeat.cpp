#include "comm/heartbeat.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <utility>

namespace metacat::comm {

namespace {

constexpr uint32_t kMagic = 0x6d636862;  // "mchb"

struct Datagram {
  uint64_t nonce;
  uint32_t magic;
  uint32_t rank;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// This host's IPv4 addresses, loopback last.
std::vector<uint32_t> local_ipv4() {
  std::vector<uint32_t> out, loop;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    const uint32_t ip = reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr;
    (ntohl(ip) >> 24 == 127 ? loop : out).push_back(ip);
  }
  freeifaddrs(list);
  out.insert(out.end(), loop.begin(), loop.end());
  return out;
}

}  // namespace

std::unique_ptr<Heartbeat> Heartbeat::listen(int world, uint64_t nonce, OnSilence on_silence) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  any.sin_port = 0;
  socklen_t len = sizeof any;
  if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&any), &len) != 0) {
    close(fd);
    return nullptr;
  }
  std::unique_ptr<Heartbeat> h(new Heartbeat());
  h->fd_ = fd;
  h->nonce_ = nonce;
  h->address_.port = ntohs(any.sin_port);
  h->address_.ipv4 = local_ipv4();
  h->heard_.assign(static_cast<size_t>(world), -1.0);
  h->alarmed_.assign(static_cast<size_t>(world), 0);
  h->on_silence_ = std::move(on_silence);
  h->thread_ = std::thread([p = h.get()] { p->listen_loop(); });
  return h;
}

std::unique_ptr<Heartbeat> Heartbeat::send(int rank, uint64_t nonce, const Address& to,
                                           bool same_host) {
  std::vector<uint32_t> targets;
  for (uint32_t ip : to.ipv4)
    if (same_host || ntohl(ip) >> 24 != 127) targets.push_back(ip);
  if (to.port == 0 || targets.empty()) return nullptr;
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  std::unique_ptr<Heartbeat> h(new Heartbeat());
  h->fd_ = fd;
  h->nonce_ = nonce;
  h->rank_ = rank;
  h->address_ = to;
  h->thread_ = std::thread([p = h.get(), targets] { p->send_loop(targets); });
  return h;
}

Heartbeat::~Heartbeat() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

double Heartbeat::silent_for(int rank) const {
  std::lock_guard<std::mutex> g(mu_);
  if (rank < 0 || static_cast<size_t>(rank) >= heard_.size() || heard_[rank] < 0) return -1;
  return now_s() - heard_[rank];
}

void Heartbeat::listen_loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      Datagram d{};
      const ssize_t n = recv(fd_, &d, sizeof d, MSG_DONTWAIT);
      if (n == static_cast<ssize_t>(sizeof d) && d.magic == kMagic && d.nonce == nonce_ &&
          d.rank < heard_.size()) {
        double was = -1;
        {
          std::lock_guard<std::mutex> g(mu_);
          if (alarmed_[d.rank]) was = now_s() - heard_[d.rank];
          alarmed_[d.rank] = 0;
          heard_[d.rank] = now_s();
        }
        if (was >= 0 && on_silence_) on_silence_(static_cast<int>(d.rank), was, true);
      }
    }
    const double alarm = alarm_;
    if (alarm <= 0 || !on_silence_) continue;
    std::vector<std::pair<int, double>> raise;
    {
      std::lock_guard<std::mutex> g(mu_);
      const double t = now_s();
      for (size_t r = 0; r < heard_.size(); ++r)
        if (heard_[r] >= 0 && !alarmed_[r] && t - heard_[r] > alarm) {
          alarmed_[r] = 1;
          raise.emplace_back(static_cast<int>(r), t - heard_[r]);
        }
    }
    for (const auto& [r, silent] : raise) on_silence_(r, silent, false);
  }
}

void Heartbeat::send_loop(std::vector<uint32_t> to) {
  const Datagram d{nonce_, kMagic, static_cast<uint32_t>(rank_)};
  while (!stop_) {
    for (uint32_t ip : to) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = ip;
      a.sin_port = htons(address_.port);
      // Unreachable addresses and full buffers are ignored: best effort.
      (void)sendto(fd_, &d, sizeof d, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    for (int i = 0; i < 10 && !stop_; ++i)
      std::this_thread::sleep_for(std::chrono::duration<double>(kInterval / 10));
  }
}

}  // namespace metacat::comm
