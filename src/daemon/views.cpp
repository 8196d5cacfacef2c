#include "daemon/views.hpp"

#include <csignal>
#include <exception>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <pthread.h>
#include <spdlog/spdlog.h>

#include "daemon/control_socket.hpp"
#include "daemon/metrics.hpp"
#include "daemon/status_page.hpp"
#include "io/live_state_json.hpp"

namespace shmrefclock {

namespace {

constexpr std::size_t index(View view) {
    return static_cast<std::size_t>(view);
}

bool with_history(View view) {
    return view == View::status_page || view == View::status_history;
}

bool for_http(View view) {
    return view == View::metrics || view == View::status_page;
}

// Each refclock's points into its part of the state.
void attach_history(StateCapture& capture) {
    auto& refclocks = capture.state.refclocks;
    for (std::size_t i = 0; i < refclocks.size() && i < capture.history.size(); ++i) {
        refclocks[i].history = std::move(capture.history[i]);
    }
}

// What a client gets when its view could not be made.
RenderedView failure(View view) {
    if (for_http(view)) {
        return {500, "text/plain; charset=utf-8", "500 internal error\n"};
    }
    return {200, "application/json",
            control_error_reply("internal error: the daemon could not build its state")};
}

} // namespace

std::int64_t view_max_age_ns(View view) {
    return view == View::status ? 100'000'000 : 1'000'000'000;
}

RenderedView render_view(View view, StateCapture capture) {
    try {
        if (with_history(view)) {
            attach_history(capture);
        }
        switch (view) {
        case View::metrics:
            return {200, std::string(metrics_content_type), render_metrics(capture.state)};
        case View::status_page:
            return {200, "text/html; charset=utf-8", render_status_page(capture.state)};
        case View::status:
        case View::status_history:
            // replace: a refclock's health quotes a device's or receiver's
            // text, which need not be UTF-8; dump() would throw on it.
            return {
                200, "application/json",
                to_json(capture.state)
                        .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                    "\n"};
        }
    } catch (const std::exception& e) {
        spdlog::error("rendering the {} failed: {}",
                      view == View::metrics       ? "metrics"
                      : view == View::status_page ? "status page"
                                                  : "status reply",
                      e.what());
    }
    return failure(view);
}

Views::Views(EventLoop& loop, Capturer capture)
    : loop_(loop), capture_(std::move(capture)),
      done_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!done_fd_.valid()) {
        throw std::runtime_error("eventfd failed");
    }
    done_watch_ = loop_.watch(done_fd_.get(), [this](const Stamp&) { on_done(); });
}

Views::~Views() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_renderer_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
    loop_.unwatch(done_watch_);
}

void Views::start_thread() {
    // The renderer takes no signal: SIGTERM and SIGHUP belong to the loop's
    // signalfd, and a thread that left them unblocked would take them with
    // their default action. It inherits this mask, set around its creation.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    thread_ = std::thread([this] { work(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void Views::get(View view, const Stamp& now, Ready ready) {
    Slot& slot = slots_[index(view)];
    switch (slot.schedule.ask(now.monotonic_ns)) {
    case RenderSchedule::Answer::cached:
        ready(slot.last);
        return;
    case RenderSchedule::Answer::wait:
        slot.waiting.push_back(std::move(ready));
        return;
    case RenderSchedule::Answer::render:
        break;
    }
    slot.waiting.push_back(std::move(ready));
    ++renderings_;
    // The capture is the loop's only work for a rendering: the live state
    // without history (tens of microseconds) and the rings copied.
    StateCapture capture;
    try {
        capture = capture_(now, with_history(view));
    } catch (const std::exception& e) {
        // A bug in building the state must not take the daemon down (nor
        // unwind through MHD's C frames): the waiting clients get the error.
        spdlog::error("capturing the live state failed: {}", e.what());
        slot.schedule.finished();
        const auto failed = std::make_shared<const RenderedView>(failure(view));
        std::vector<Ready> waiting;
        waiting.swap(slot.waiting);
        for (Ready& each : waiting) {
            each(failed);
        }
        return;
    }
    if (!thread_.joinable()) {
        start_thread();
    }
    pending_jobs_.push_back({view, std::move(capture), generation_});
    hand_jobs_over();
}

// The loop never waits for the renderer's lock: the renderer runs below the
// loop's priority (nice 10), and one preempted while it held the lock would
// hold the loop, and every stamp, for as long as busier processes kept it
// off the CPU. What cannot be handed over now is handed over on the next
// turn, which the eventfd brings at once.
void Views::hand_jobs_over() {
    if (pending_jobs_.empty()) {
        return;
    }
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {
        come_back();
        return;
    }
    for (Job& job : pending_jobs_) {
        jobs_.push_back(std::move(job));
    }
    lock.unlock();
    pending_jobs_.clear();
    wake_renderer_.notify_one();
}

void Views::come_back() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(done_fd_.get(), &one, sizeof one);
}

void Views::invalidate() {
    ++generation_;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& slot = slots_[i];
        slot.schedule = RenderSchedule(view_max_age_ns(static_cast<View>(i)));
        slot.last.reset();
        for (Ready& ready : slot.waiting) {
            slot.waiting_before.push_back(std::move(ready));
        }
        slot.waiting.clear();
    }
}

void Views::work() {
    pthread_setname_np(pthread_self(), "render");
    // Below the loop's priority: the loop stamps, this only renders.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_renderer_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) {
            return;
        }
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        auto rendered =
            std::make_shared<const RenderedView>(render_view(job.view, std::move(job.capture)));
        lock.lock();
        done_.push_back({job.view, std::move(rendered), job.generation});
        // The loop is woken only once the lock is free: woken while this
        // thread held it, the loop would run at once (on this CPU, at its
        // higher priority) into a lock held by a thread it had preempted.
        lock.unlock();
        come_back();
        lock.lock();
    }
}

void Views::on_done() {
    std::uint64_t count = 0;
    [[maybe_unused]] const auto n = ::read(done_fd_.get(), &count, sizeof count);
    hand_jobs_over();
    std::deque<Done> done;
    {
        std::unique_lock lock(mutex_, std::try_to_lock);
        if (!lock.owns_lock()) {
            come_back(); // see hand_jobs_over
            return;
        }
        done.swap(done_);
    }
    for (Done& finished : done) {
        Slot& slot = slots_[index(finished.view)];
        // Swapped out first: a callback may ask again.
        std::vector<Ready> waiting;
        if (finished.generation == generation_) {
            slot.schedule.finished();
            slot.last = finished.rendered;
            waiting.swap(slot.waiting);
        } else {
            waiting.swap(slot.waiting_before);
        }
        for (Ready& ready : waiting) {
            ready(finished.rendered);
        }
    }
}

} // namespace shmrefclock
