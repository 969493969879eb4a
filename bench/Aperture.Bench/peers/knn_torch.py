"""Exact k-NN search throughput in PyTorch, the peer of Aperture's NearestNeighbourIndex (bench --knn).

Usage: knn_torch.py N D K Q THREADS REPEATS
The items and queries are standard normal float32 (torch's generator, seed 0: other bits than Aperture's, the same
distribution). Each repeat computes the full query-item L2 distance matrix with torch.cdist (the
'use_mm_for_euclid_dist' path, the same ||q||^2 + ||x||^2 - 2 q.x expansion as Aperture) in blocks of 256 queries
and takes torch.topk(k, largest=False) per row. Prints one line: queries_per_s=<best over repeats>.
"""
import sys
import time

import torch


def main():
    n, d, k, q, threads, repeats = (int(a) for a in sys.argv[1:7])
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    items = torch.randn(n, d, generator=g)
    queries = torch.randn(q, d, generator=g)

    def search():
        out = []
        for start in range(0, q, 256):
            dist = torch.cdist(queries[start:start + 256], items, compute_mode="use_mm_for_euclid_dist")
            out.append(torch.topk(dist, k, dim=1, largest=False, sorted=True).indices)
        return torch.cat(out)

    search()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        search()
        best = min(best, time.perf_counter() - t0)
    print(f"queries_per_s={q / best:.1f}")


if __name__ == "__main__":
    with torch.no_grad():
        main()
