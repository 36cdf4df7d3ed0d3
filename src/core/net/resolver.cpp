#include "mg/resolver.hpp"

#include <netdb.h>
#include <netinet/in.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace mg::net {

namespace {

constexpr auto kIdleExit = std::chrono::seconds(10);

// Never destroyed: detached workers may still use it while the process exits.
struct Pool {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Lookup>> queue;
  int threads = 0;
  int idle = 0;
};
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void run(Lookup& job) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address
  addrinfo* res = nullptr;
  int rc = getaddrinfo(job.host.c_str(), nullptr, &hints, &res);
  for (addrinfo* ai = rc == 0 ? res : nullptr; ai; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage))
      continue;
    Address a;
    std::memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    if (ai->ai_family == AF_INET) reinterpret_cast<sockaddr_in&>(a.ss).sin_port = htons(job.port);
    else reinterpret_cast<sockaddr_in6&>(a.ss).sin6_port = htons(job.port);
    job.results.push_back(a);
  }
  job.gai_error = rc == 0 && job.results.empty() ? EAI_NONAME : rc;
  if (res) freeaddrinfo(res);
  job.done.store(true, std::memory_order_release);
}

void worker() {
  Pool& p = pool();
  std::unique_lock<std::mutex> lock(p.mu);
  for (;;) {
    p.idle++;
    bool woke = p.cv.wait_for(lock, kIdleExit, [&] { return !p.queue.empty(); });
    p.idle--;
    if (!woke) break;
    std::shared_ptr<Lookup> job = std::move(p.queue.front());
    p.queue.pop_front();
    lock.unlock();
    run(*job);
    job.reset();
    lock.lock();
  }
  p.threads--;
}

}  // namespace

std::shared_ptr<Lookup> resolve_async(std::string host, uint16_t port) {
  auto job = std::make_shared<Lookup>();
  job->host = std::move(host);
  job->port = port;
  Pool& p = pool();
  std::lock_guard<std::mutex> g(p.mu);
  p.queue.push_back(job);
  if (p.idle < static_cast<int>(p.queue.size()) && p.threads < kMaxResolverThreads) {
    try {
      std::thread(worker).detach();
      p.threads++;
    } catch (...) {
      if (p.threads == 0) {  // nobody would ever take the job
        p.queue.pop_back();
        throw;
      }
    }
  }
  p.cv.notify_one();
  return job;
}

std::string lookup_error(const Lookup& l) {
  if (l.gai_error == EAI_NONAME || l.gai_error == EAI_NODATA || l.gai_error == EAI_FAIL)
    return l.host + " DNS lookup failed";
  return "DNS error";
}

int resolver_threads() {
  Pool& p = pool();
  std::lock_guard<std::mutex> g(p.mu);
  return p.threads;
}

}  // namespace mg::net
