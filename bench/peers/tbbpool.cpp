// SPDX-License-Identifier: MIT
/*
 * oneTBB, used as its documentation recommends: tbb::parallel_for over a
 * blocked_range with the default auto_partitioner for array work (tiny tasks,
 * CPU scaling, skewed durations, the seed's frames); tbb::task_group, one
 * run() per task, for submit-style work (tiny tasks "unordered", skewed);
 * tbb::parallel_pipeline (serial-in-order fill, parallel checksum,
 * serial-in-order check, live tokens = the window) for the payload stream.
 * The worker count is set with tbb::global_control(max_allowed_parallelism);
 * as in TBB (and OpenMP), the calling thread is one of those workers, and idle
 * threads steal work from busy ones. There is no round-trip row: task_group's
 * wait() runs the task on the calling thread itself, so there is no hand-off
 * to time. Input by pointer; the same task bodies as every other peer.
 */
extern "C" {
#include "peer_common.h"
}

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

const size_t BLOCK = 1u << 20;	// tiny tasks per parallel_for (bounds the output array)

using range = tbb::blocked_range<size_t>;

void emit(const char *wl, const char *impl, unsigned workers, uint64_t n, uint64_t bytes,
	  double el, double cpu, const char *extra)
{
	struct peer_row r = peer_row_init(wl, impl);

	r.workers = workers;
	r.payload_bytes = bytes;
	r.tasks = n;
	r.tasks_per_s = (double)n / el;
	r.cpu_s = cpu;
	r.extra = extra;
	peer_emit(&r);
}

double secs_since(uint64_t t0)
{
	return (double)(peer_now_ns() - t0) * 1e-9;
}

// Run `pass` reps times; returns the median seconds, *lo/*hi the extremes.
template <class F> double median_of(int reps, F pass, double *lo, double *hi)
{
	std::vector<double> el;

	for (int k = 0; k < reps; k++) {
		uint64_t t0 = peer_now_ns();

		pass();
		el.push_back(secs_since(t0));
	}
	std::sort(el.begin(), el.end());
	*lo = el.front();
	*hi = el.back();
	return el[el.size() / 2];
}

// Tiny tasks in blocks; `task_group`: one run() per task, else parallel_for.
void tiny(const struct peer_opts *o, bool task_group)
{
	uint64_t n = (o->quick ? 2 : 16) * (uint64_t)BLOCK, sum = 0;
	std::vector<uint64_t> out(BLOCK);
	auto block = [&](uint64_t b) {
		if (task_group) {
			tbb::task_group tg;

			for (size_t i = 0; i < BLOCK; i++)
				tg.run([&out, b, i] { out[i] = peer_tiny(b + i); });
			tg.wait();
		} else {
			tbb::parallel_for(range(0, BLOCK), [&out, b](const range &r) {
				for (size_t i = r.begin(); i != r.end(); i++)
					out[i] = peer_tiny(b + i);
			});
		}
	};

	block(0);	// warm up: threads started
	double c0 = peer_cpu_s();
	uint64_t t0 = peer_now_ns();

	for (uint64_t b = 0; b < n; b += BLOCK) {
		block(b);
		for (size_t i = 0; i < BLOCK; i++)	// consume in order
			sum += out[i];
	}
	double el = secs_since(t0);

	if (sum != n * n)	// sum of 2i+1 for i < n
		peer_die("tbb tiny: wrong sum");
	char extra[96];

	snprintf(extra, sizeof(extra), "{\"block\": %zu, \"api\": \"%s\"}", BLOCK,
		 task_group ? "task_group.run per task" : "parallel_for");
	emit(task_group ? "tiny_unordered" : "tiny_ordered", task_group ? "tbb_task_group" : "tbb",
	     o->workers, n, 8, el, peer_cpu_s() - c0, extra);
}

// The checksum stream: fill (in order), sum (in parallel), check (in order).
void payload(const struct peer_opts *o)
{
	for (const size_t *sz = peer_payload_sizes; *sz; sz++) {
		size_t len = *sz;
		unsigned win = peer_payload_window(len, o->workers);
		uint64_t n = peer_payload_tasks(len, o->quick), next = 0, checked = 0;
		std::vector<char *> bufs(win);
		struct item {
			uint64_t seq, sum;
			const char *p;
		};

		for (auto &b : bufs) {
			if (!(b = (char *)aligned_alloc(64, len)))
				peer_die("out of memory");
			memset(b, 0, len);	// fault in before timing
		}
		double c0 = peer_cpu_s();
		uint64_t t0 = peer_now_ns();

		// At most `win` items live: item seq's buffer, seq % win, is free
		// again once item seq - win has left the last stage.
		tbb::parallel_pipeline(win,
			tbb::make_filter<void, item>(tbb::filter_mode::serial_in_order,
				[&](tbb::flow_control &fc) -> item {
					if (next == n) {
						fc.stop();
						return item{};
					}
					char *b = bufs[next % win];

					peer_payload_fill(b, len, next);
					return item{ next++, 0, b };
				}) &
			tbb::make_filter<item, item>(tbb::filter_mode::parallel,
				[len](item it) {
					it.sum = peer_payload_sum(it.p, len);
					return it;
				}) &
			tbb::make_filter<item, void>(tbb::filter_mode::serial_in_order,
				[&](const item &it) {
					if (it.seq != checked++ ||
					    it.sum != peer_payload_expect(len, it.seq))
						peer_die("tbb payload: wrong result for %llu",
							 (unsigned long long)it.seq);
				}));
		double el = secs_since(t0);
		char extra[128];

		if (checked != n)
			peer_die("tbb payload: %llu of %llu results", (unsigned long long)checked,
				 (unsigned long long)n);
		snprintf(extra, sizeof(extra),
			 "{\"gbps\": %.4f, \"path\": \"pointer\", \"window\": %u, \"api\": \"parallel_pipeline\"}",
			 (double)n * (double)len / el * 1e-9, win);
		emit("payload", "tbb_pipeline", o->workers, n, len, el, peer_cpu_s() - c0, extra);
		for (auto b : bufs)
			free(b);
	}
}

void cpu_scaling(const struct peer_opts *o)
{
	uint64_t iters = peer_burn_calibrate(1000000);
	// --quick: 200 tasks, half the other peers' 400, for the CI smoke run's time
	size_t n = o->quick ? 200 : 4000;
	int reps = o->quick ? 1 : 5;	// --quick: one pass (the CI smoke run)
	double serial_s = peer_burn_serial_s(iters, n);
	std::vector<uint64_t> out(n);

	for (unsigned w = 1; w <= o->workers; w++) {
		tbb::global_control gc(tbb::global_control::max_allowed_parallelism, w);
		double lo, hi, c0 = peer_cpu_s(), el;
		char extra[256];

		el = median_of(reps, [&] {
			tbb::parallel_for(range(0, n), [&](const range &r) {
				for (size_t i = r.begin(); i != r.end(); i++)
					out[i] = peer_burn(iters, i);
			});
		}, &lo, &hi);
		snprintf(extra, sizeof(extra),
			 "{\"speedup\": %.4f, \"speedup_min\": %.4f, \"speedup_max\": %.4f, "
			 "\"reps\": %d, \"serial_s\": %.4f, \"task_us\": %.1f}",
			 serial_s / el, serial_s / hi, serial_s / lo, reps, serial_s,
			 serial_s / (double)n * 1e6);
		emit("cpu_scaling", "tbb", w, n, 8, el, (peer_cpu_s() - c0) / reps, extra);
	}
}

void skewed(const struct peer_opts *o)
{
	size_t n = peer_skew_tasks(o->quick);
	std::vector<uint64_t> d(n);
	int reps = o->quick ? 1 : 5;	// --quick: one pass (the CI smoke run)
	double ideal = (double)peer_skew_durations(d.data(), n, PEER_SKEW_BASE_NS) * 1e-9 /
		       o->workers;

	for (int tg_api = 0; tg_api <= 1; tg_api++) {
		double lo, hi, c0 = peer_cpu_s(), el;
		char extra[256];

		el = median_of(reps, [&] {
			if (tg_api) {
				tbb::task_group tg;

				for (size_t i = 0; i < n; i++)
					tg.run([&d, i] { peer_spin_for(d[i]); });
				tg.wait();
			} else {
				tbb::parallel_for(range(0, n), [&](const range &r) {
					for (size_t i = r.begin(); i != r.end(); i++)
						peer_spin_for(d[i]);
				});
			}
		}, &lo, &hi);
		snprintf(extra, sizeof(extra),
			 "{\"makespan_over_ideal\": %.4f, \"best\": %.4f, \"worst\": %.4f, "
			 "\"reps\": %d, \"makespan_s\": %.4f, \"ideal_s\": %.4f, \"api\": \"%s\"}",
			 el / ideal, lo / ideal, hi / ideal, reps, el, ideal,
			 tg_api ? "task_group.run per task" : "parallel_for");
		emit("skewed", tg_api ? "tbb_task_group" : "tbb", o->workers, n, 8, el,
		     (peer_cpu_s() - c0) / reps, extra);
	}
}

void seed_count(const struct peer_opts *o)
{
	uint64_t iters = peer_seed_iters(o->quick), res[PEER_SEED_FRAMES];
	double c0 = peer_cpu_s();
	uint64_t t0 = peer_now_ns();
	char extra[128];

	tbb::parallel_for(range(0, PEER_SEED_FRAMES), [&](const range &r) {
		for (size_t f = r.begin(); f != r.end(); f++)
			res[f] = peer_seed_count(iters, f, PEER_SEED_THRESH);
	});
	double el = secs_since(t0);

	for (uint64_t f = 0; f < PEER_SEED_FRAMES; f++)
		if (res[f] != iters * f * PEER_SEED_THRESH)
			peer_die("tbb seed count: wrong result");
	snprintf(extra, sizeof(extra), "{\"iters_per_frame\": %llu, \"elapsed_s\": %.4f}",
		 (unsigned long long)iters, el);
	emit("seed_count", "tbb", o->workers, PEER_SEED_FRAMES, 8, el, peer_cpu_s() - c0, extra);
}

} // namespace

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 40 : 400);
	tbb::global_control gc(tbb::global_control::max_allowed_parallelism, o.workers);

	if (peer_want(&o, "tiny_ordered"))
		tiny(&o, false);
	if (peer_want(&o, "tiny_unordered"))
		tiny(&o, true);
	if (peer_want(&o, "payload"))
		payload(&o);
	if (peer_want(&o, "cpu_scaling"))
		cpu_scaling(&o);
	if (peer_want(&o, "skewed"))
		skewed(&o);
	if (peer_want(&o, "seed_count"))
		seed_count(&o);
	return 0;
}
