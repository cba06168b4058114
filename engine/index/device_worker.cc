#include "engine/index/device_worker.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <vector>

namespace vecmesh::engine {

// One submitted operation or search, on its caller's stack until `done`.
struct DeviceWorker::Job {
  std::function<void()> posted;                 // set: a Post, owned by the queue
  Logger logger;                                // a Post's: where an escaping exception goes
  const std::function<Status()>* op = nullptr;  // set: a Run; neither: a search
  SearchKey key;
  size_t dim = 0;
  size_t nq = 0;
  const float* queries = nullptr;
  const BatchSearch* search = nullptr;
  float* distances = nullptr;
  int64_t* labels = nullptr;
  Status status;
  bool done = false;  // guarded by mu_
};

namespace {

// Runs f, turning an escaping exception into Internal: the worker thread must outlive it.
template <typename F>
Status Guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("device operation failed: ") + e.what());
  } catch (...) {
    return Status::Internal("device operation failed: an unknown exception");
  }
}

}  // namespace

DeviceWorker::DeviceWorker(size_t max_batch_queries)
    : max_batch_queries_(std::max<size_t>(1, max_batch_queries)), thread_([this] { Loop(); }) {}

DeviceWorker::~DeviceWorker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

Status DeviceWorker::Run(const std::function<Status()>& op) {
  Job job;
  job.op = &op;
  std::unique_lock lock(mu_);
  queue_.push_back(&job);
  wake_.notify_one();
  done_.wait(lock, [&] { return job.done; });
  return job.status;
}

void DeviceWorker::Post(std::function<void()> op, Logger logger) {
  auto job = std::make_unique<Job>();
  job->posted = std::move(op);
  job->logger = std::move(logger);
  std::lock_guard lock(mu_);
  queue_.push_back(job.release());
  wake_.notify_one();
}

Status DeviceWorker::Search(const SearchKey& key, size_t dim, size_t nq, const float* queries,
                            const BatchSearch& search, float* distances, int64_t* labels) {
  if (nq == 0) return Status::Ok();
  Job job;
  job.key = key;
  job.dim = dim;
  job.nq = nq;
  job.queries = queries;
  job.search = &search;
  job.distances = distances;
  job.labels = labels;
  std::unique_lock lock(mu_);
  queue_.push_back(&job);
  wake_.notify_one();
  done_.wait(lock, [&] { return job.done; });
  return job.status;
}

void DeviceWorker::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything submitted is done
    Job* first = queue_.front();
    queue_.pop_front();
    if (first->posted) {
      std::unique_ptr<Job> owned(first);
      lock.unlock();
      Status status = Guarded([&] {
        owned->posted();
        return Status::Ok();
      });
      if (!status.ok()) {
        owned->logger("error", "a device operation failed", {{"error", status.message()}});
      }
      owned.reset();
      lock.lock();
    } else if (first->op) {
      lock.unlock();
      Status status = Guarded(*first->op);
      lock.lock();
      first->status = std::move(status);
      first->done = true;
      done_.notify_all();
    } else {
      RunSearches(first, lock);
    }
  }
}

// `first` is already off the queue. Holds `lock` except while searching.
void DeviceWorker::RunSearches(Job* first, std::unique_lock<std::mutex>& lock) {
  // Gather the searches with first's key that wait before the next operation.
  std::vector<Job*> batch = {first};
  size_t total = first->nq;
  for (auto it = queue_.begin(); it != queue_.end() && !(*it)->op && !(*it)->posted;) {
    Job* job = *it;
    if (job->key == first->key && total + job->nq <= max_batch_queries_) {
      batch.push_back(job);
      total += job->nq;
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  ++batches_;
  queries_ += total;
  lock.unlock();

  // Gathering into one batch allocates (gigabytes at the largest dimension): inside Guarded too.
  const Status status = Guarded([&] {
    if (batch.size() == 1) {
      return (*first->search)(first->nq, first->queries, first->distances, first->labels);
    }
    const size_t dim = first->dim, k = first->key.k;
    std::vector<float> queries(total * dim), distances(total * k);
    std::vector<int64_t> labels(total * k);
    size_t at = 0;
    for (Job* job : batch) {
      std::copy_n(job->queries, job->nq * dim, queries.begin() + at * dim);
      at += job->nq;
    }
    Status searched = (*first->search)(total, queries.data(), distances.data(), labels.data());
    if (!searched.ok()) return searched;
    at = 0;
    for (Job* job : batch) {
      std::copy_n(distances.begin() + at * k, job->nq * k, job->distances);
      std::copy_n(labels.begin() + at * k, job->nq * k, job->labels);
      at += job->nq;
    }
    return Status::Ok();
  });

  lock.lock();
  for (Job* job : batch) {
    job->status = status;
    job->done = true;
  }
  done_.notify_all();
}

uint64_t DeviceWorker::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

uint64_t DeviceWorker::queries() const {
  std::lock_guard lock(mu_);
  return queries_;
}

size_t DeviceWorker::waiting() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace vecmesh::engine
