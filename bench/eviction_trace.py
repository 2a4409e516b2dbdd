#!/usr/bin/env python3
"""LRU against GDSF on a synthetic but registry-shaped pull trace: which eviction policy keeps
more of an office's pulls local, for cache sizes from 5% to 40% of everything pulled.

The trace (seeded, so runs compare):
  * 400 repositories with Zipf(1.0) popularity; each is built on one of 25 base images (Zipf
    again: most are on a few debian/alpine/ubuntu bases) with 1-3 base layers of 2-60 MB;
  * an image is its base layers, 2-8 application layers (lognormal sizes, median 4 MB, a few
    near 1 GB), a config (~6 KB) and a manifest (~2 KB); layers are blobs shared by digest;
  * every day each repository releases a new version with probability 5%: its top one to
    three application layers change, the lower ones stay; every base image is rebuilt every
    ~30 days, which changes the base layers of every repository on it at its next release;
  * with --drift P, every day each repository swaps its popularity with a random other one
    with probability P (projects rise and fall);
  * 2,000 pulls a day for 60 days; 85% pull a repository's latest version, the rest one of
    the five before it. A pull requests the manifest, the config and every layer.

The policies, each simulated exactly (whole blobs, evicted until the new one fits):
  * LRU: least recently used first (what regcache does);
  * GDSF (cost 1): priority = clock + hits / size, the request-hit-ratio variant;
  * GDSF (cost size): priority = clock + hits, i.e. LFU with dynamic aging (LFUDA), the
    byte-hit-ratio variant.
Reported: byte hit ratio (bytes served from the cache / bytes pulled: the bandwidth and time
a cache saves, which is what a registry cache is for) and request hit ratio.

  bench/eviction_trace.py            # the table (about a minute)
  bench/eviction_trace.py --days 20  # smaller
"""

import argparse
import heapq
import math
import random
from collections import OrderedDict

MB = 1_000_000


class Trace:
    def __init__(self, seed, days, pulls_per_day, drift, repos=400, bases=25):
        self.rng = random.Random(seed)
        self.drift = drift
        self.days, self.pulls_per_day = days, pulls_per_day
        self.next_id = 0
        self.size = {}
        zipf = [1 / (i + 1) for i in range(bases)]
        self.bases = [self.new_base() for _ in range(bases)]
        self.repo_base = [self.rng.choices(range(bases), zipf)[0] for _ in range(repos)]
        self.repo_weight = [1 / (i + 1) for i in range(repos)]
        self.versions = [[self.new_version(r, None)] for r in range(repos)]

    def blob(self, size):
        self.next_id += 1
        self.size[self.next_id] = max(1, int(size))
        return self.next_id

    def new_base(self):
        return [self.blob(self.rng.uniform(2, 60) * MB) for _ in range(self.rng.randint(1, 3))]

    def app_layer(self):
        return self.blob(min(1000 * MB, self.rng.lognormvariate(math.log(4 * MB), 1.3)))

    def new_version(self, repo, previous):
        base = self.bases[self.repo_base[repo]]
        if previous is None:
            app = [self.app_layer() for _ in range(self.rng.randint(2, 8))]
        else:
            app = list(previous["app"])
            changed = min(len(app), self.rng.randint(1, 3))
            app[len(app) - changed:] = [self.app_layer() for _ in range(changed)]
        return {"base": list(base), "app": app, "config": self.blob(self.rng.uniform(3, 9) * 1000),
                "manifest": self.blob(self.rng.uniform(1, 3) * 1000)}

    def requests(self):
        """Yields blob ids in request order."""
        for _day in range(self.days):
            for b in range(len(self.bases)):
                if self.rng.random() < 1 / 30:
                    self.bases[b] = self.new_base()
            for r in range(len(self.versions)):
                if self.rng.random() < 0.05:
                    self.versions[r].append(self.new_version(r, self.versions[r][-1]))
                if self.rng.random() < self.drift:  # projects rise and fall
                    other = self.rng.randrange(len(self.versions))
                    w = self.repo_weight
                    w[r], w[other] = w[other], w[r]
            for _ in range(self.pulls_per_day):
                r = self.rng.choices(range(len(self.versions)), self.repo_weight)[0]
                history = self.versions[r]
                if self.rng.random() < 0.85 or len(history) == 1:
                    v = history[-1]
                else:
                    v = history[-1 - self.rng.randint(1, min(5, len(history) - 1))]
                yield v["manifest"]
                yield v["config"]
                yield from v["base"]
                yield from v["app"]


def simulate_lru(requests, size, capacity):
    cache, used, hit_bytes, hits = OrderedDict(), 0, 0, 0
    for blob in requests:
        s = size[blob]
        if blob in cache:
            cache.move_to_end(blob)
            hit_bytes += s
            hits += 1
            continue
        if s > capacity:
            continue
        while used + s > capacity:
            _old, old_size = cache.popitem(last=False)
            used -= old_size
        cache[blob] = s
        used += s
    return hit_bytes, hits


def simulate_gdsf(requests, size, capacity, cost_is_size):
    clock, used, hit_bytes, hits = 0.0, 0, 0, 0
    priority, frequency, heap = {}, {}, []
    for blob in requests:
        s = size[blob]
        cost = s if cost_is_size else 1
        if blob in priority:
            hit_bytes += s
            hits += 1
            frequency[blob] += 1
        else:
            if s > capacity:
                continue
            while used + s > capacity:  # pop stale heap entries until a live minimum
                p, victim = heapq.heappop(heap)
                if priority.get(victim) != p:
                    continue
                clock = p
                used -= size[victim]
                del priority[victim]
                del frequency[victim]
            frequency[blob] = 1
            used += s
        p = clock + frequency[blob] * cost / s
        priority[blob] = p
        heapq.heappush(heap, (p, blob))
        if len(heap) > 4 * len(priority) + 1024:  # bound the lazy heap
            heap = [(p, b) for b, p in priority.items()]
            heapq.heapify(heap)
    return hit_bytes, hits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--pulls-per-day", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--drift", type=float, default=0.0,
                        help="daily chance that a repository swaps its popularity with another")
    args = parser.parse_args()
    trace = Trace(args.seed, args.days, args.pulls_per_day, args.drift)
    requests = list(trace.requests())
    size = trace.size
    total_bytes = sum(size[b] for b in requests)
    unique_bytes = sum(size[b] for b in set(requests))
    print("trace: %d requests, %.1f TB pulled, %.1f GB distinct blobs (%d)" % (
        len(requests), total_bytes / 1e12, unique_bytes / 1e9, len(set(requests))))
    print("\n| cache (share of distinct bytes) | LRU bytes | GDSF cost 1 bytes | GDSF cost size "
          "bytes | LRU requests | GDSF cost 1 requests | GDSF cost size requests |")
    print("|---|---|---|---|---|---|---|")
    for share in (0.05, 0.10, 0.20, 0.40):
        capacity = int(unique_bytes * share)
        results = [simulate_lru(requests, size, capacity),
                   simulate_gdsf(requests, size, capacity, False),
                   simulate_gdsf(requests, size, capacity, True)]
        byte_ratios = ["%.1f %%" % (100 * h / total_bytes) for h, _ in results]
        request_ratios = ["%.1f %%" % (100 * n / len(requests)) for _, n in results]
        print("| %d %% (%.0f GB) | %s | %s |" % (share * 100, capacity / 1e9,
                                                 " | ".join(byte_ratios),
                                                 " | ".join(request_ratios)))


if __name__ == "__main__":
    main()
