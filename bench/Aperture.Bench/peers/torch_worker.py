"""PyTorch side of the Aperture peer benchmark.

Driven by the C# harness over stdin/stdout, one JSON object per line each way:
  {"op": "hello"}                               -> versions, BLAS in use, threads, a GEMM GFLOP/s check
  {"op": "setup", "workload": {...}, "data": path, "tensors": [...]}
                                                -> builds the workload from the harness's data and weights
  {"op": "check"}                               -> runs one iteration, returns a scalar to compare across engines
  {"op": "run", "iters": n}                     -> runs n iterations, returns the seconds they took
  {"op": "quit"}
Every answer has "ok"; a failure answers {"ok": false, "error": "..."} and the worker keeps serving.

The harness starts one worker per thread count with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, OPENBLAS_CORETYPE and
LD_LIBRARY_PATH (the OpenBLAS build to use) already set; torch.set_num_threads is called again here because Debian's
build otherwise runs on one thread.
"""

import ctypes
import json
import os
import sys
import time
import traceback

import torch
import torch.nn.functional as F

THREADS = int(os.environ.get("APERTURE_BENCH_THREADS", "1"))
torch.set_num_threads(THREADS)
torch.set_num_interop_threads(1)


def blas_info():
    """Which BLAS torch resolves to: OpenBLAS's core name and config when it is OpenBLAS, else 'reference'."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return {
                "blas": "openblas",
                "blas_core": lib.openblas_get_corename().decode(),
                "blas_config": lib.openblas_get_config().decode(),
                "blas_threads": lib.openblas_get_num_threads(),
            }
    return {"blas": "reference", "blas_core": "", "blas_config": "", "blas_threads": 1}


def cpu_capability():
    """The vector ISA ATen's own kernels were dispatched to ('CPU capability usage: AVX2' in 1.13's config)."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return ""


def gemm_check(n=1024, runs=5, seconds=0.1):
    """Best GFLOP/s of an n x n float32 matmul over a few short runs: shows whether the fast BLAS is really in use."""
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=c)
    best = 0.0
    for _ in range(runs):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            torch.mm(a, b, out=c)
            reps += 1
        best = max(best, 2.0 * n ** 3 * reps / (time.perf_counter() - start) / 1e9)
    return best


def load_tensors(path, specs):
    with open(path, "rb") as f:
        blob = f.read()
    out = {}
    for s in specs:
        dtype = {"float32": torch.float32, "int64": torch.int64}[s["dtype"]]
        count = 1
        for d in s["shape"]:
            count *= d
        size = count * (4 if dtype == torch.float32 else 8)
        raw = bytearray(blob[s["offset"]:s["offset"] + size])
        out[s["name"]] = torch.frombuffer(raw, dtype=dtype, count=count).reshape(s["shape"]).clone()
    return out


def param(t):
    return torch.nn.Parameter(t.clone())


class Gemm:
    def __init__(self, w, t):
        self.a, self.b = t["a"], t["b"]
        self.c = torch.empty(self.a.shape[0], self.b.shape[1])

    def step(self):
        torch.mm(self.a, self.b, out=self.c)

    def check(self):
        self.step()
        return float(self.c.abs().sum())


class Mlp:
    """A ReLU MLP: training with cross-entropy (or MSE) and SGD with momentum, or inference."""

    def __init__(self, w, t):
        layers = len(w["sizes"]) - 1
        self.params = [param(t[f"{k}{i}"]) for i in range(layers) for k in ("w", "b")]
        self.x, self.y = t["x"], t.get("y")
        self.mse = w["loss"] == "mse"
        self.train = w["kind"] == "mlp-train"
        if self.train:
            self.opt = torch.optim.SGD(self.params, lr=w["lr"], momentum=w["momentum"])

    def forward(self):
        h = self.x
        n = len(self.params) // 2
        for i in range(n):
            h = F.linear(h, self.params[2 * i], self.params[2 * i + 1])
            if i < n - 1:
                h = F.relu(h)
        return h

    def loss(self):
        out = self.forward()
        return F.mse_loss(out, self.y) if self.mse else F.cross_entropy(out, self.y)

    def step(self):
        if self.train:
            loss = self.loss()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            return loss
        with torch.inference_mode():
            return self.forward()

    def check(self):
        if not self.train:
            return float(self.step().sum())
        self.step()
        self.step()
        return float(self.step().detach())


class LeNet5:
    """LeNet-5 on 1x28x28: conv5x5(pad 2)-relu-maxpool2, conv5x5-relu-maxpool2, 400-120-84-10, cross-entropy, SGD."""

    def __init__(self, w, t):
        names = ["c0w", "c0b", "c1w", "c1b", "w0", "b0", "w1", "b1", "w2", "b2"]
        self.params = [param(t[n]) for n in names]
        self.x, self.y = t["x"], t["y"]
        self.opt = torch.optim.SGD(self.params, lr=w["lr"], momentum=w["momentum"])

    def loss(self):
        c0w, c0b, c1w, c1b, w0, b0, w1, b1, w2, b2 = self.params
        h = F.max_pool2d(F.relu(F.conv2d(self.x, c0w, c0b, padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, c1w, c1b)), 2)
        h = h.flatten(1)
        h = F.relu(F.linear(h, w0, b0))
        h = F.relu(F.linear(h, w1, b1))
        return F.cross_entropy(F.linear(h, w2, b2), self.y)

    def step(self):
        loss = self.loss()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss

    def check(self):
        self.step()
        self.step()
        return float(self.step().detach())


class Adam:
    """One Adam step over fixed gradients (the optimizer's own cost, nothing else).

    PyTorch 1.13 has two CPU implementations, a loop over tensors and the multi-tensor (foreach) one; which is faster
    depends on the tensor count, so both are timed in alternation on copies and the faster one is kept.
    """

    def __init__(self, w, t):
        count = w["tensors"]
        self.initial = [t[f"p{i}"] for i in range(count)]
        self.grads = [t[f"g{i}"] for i in range(count)]
        self.lr = w["lr"]
        self.foreach = self.pick_implementation()
        self.params, self.opt = self.build(self.foreach)

    def build(self, foreach):
        params = [param(p) for p in self.initial]
        for p, g in zip(params, self.grads):
            p.grad = g.clone()
        return params, torch.optim.Adam(params, lr=self.lr, foreach=foreach)

    def pick_implementation(self, rounds=5, seconds=0.03):
        variants = {v: self.build(v)[1] for v in (False, True)}
        times = {v: [] for v in variants}
        for r in range(rounds):
            for v, opt in variants.items():
                opt.step()
                n, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    opt.step()
                    n += 1
                times[v].append((time.perf_counter() - start) / n)
        return min(times, key=lambda v: sorted(times[v])[rounds // 2])

    def step(self):
        self.opt.step()

    def check(self):
        for _ in range(3):
            self.step()
        return float(sum(p.detach().abs().sum() for p in self.params))


class MlpCurvature:
    """The gradient of a ReLU MLP's cross-entropy over its parameters, or a Hessian-vector product of the same loss
    by double backward (reverse-over-reverse: the gradient with create_graph, then the gradient of <g, v>), the way
    PyHessian and torch.autograd.functional.hvp compute it."""

    def __init__(self, w, t):
        layers = len(w["sizes"]) - 1
        self.params = [param(t[f"{k}{i}"]) for i in range(layers) for k in ("w", "b")]
        self.x, self.y = t["x"], t["y"]
        self.hvp = w["kind"] == "mlp-hvp"
        self.v = [t[f"v{k}{i}"] for i in range(layers) for k in ("w", "b")] if self.hvp else None

    def loss(self):
        h = self.x
        n = len(self.params) // 2
        for i in range(n):
            h = F.linear(h, self.params[2 * i], self.params[2 * i + 1])
            if i < n - 1:
                h = F.relu(h)
        return F.cross_entropy(h, self.y)

    def step(self):
        if not self.hvp:
            return torch.autograd.grad(self.loss(), self.params)
        g = torch.autograd.grad(self.loss(), self.params, create_graph=True)
        return torch.autograd.grad(g, self.params, grad_outputs=self.v)

    def check(self):
        return float(sum(t.abs().sum() for t in self.step()))


class Sgld:
    """One SGLD step of the local learning coefficient's sampler on a deep linear network (no biases), written as
    devinterp writes its sampler: forward, half mean squared error, backward, then under no_grad
    w -= eps/2 * (nbeta * grad + gamma * (w - w*)) and w += sqrt(eps) * randn_like(w), in place."""

    def __init__(self, w, t):
        layers = len(w["sizes"]) - 1
        self.params = [param(t[f"w{i}"]) for i in range(layers)]
        self.anchor = [p.detach().clone() for p in self.params]
        self.x, self.y = t["x"], t["y"]
        self.eps, self.nbeta, self.gamma = w["lr"], w["nbeta"], w["localization"]
        self.gen = torch.Generator().manual_seed(0)

    def step(self):
        h = self.x
        for p in self.params:
            h = F.linear(h, p)
        loss = 0.5 * (h - self.y).square().sum() / self.x.shape[0]
        for p in self.params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p, a in zip(self.params, self.anchor):
                drift = p.grad * self.nbeta + (p - a) * self.gamma
                p.add_(drift, alpha=-self.eps / 2)
                p.add_(torch.randn(p.shape, generator=self.gen), alpha=self.eps ** 0.5)
        return loss

    def check(self):
        return float(self.step().detach())


KINDS = {"sgld": Sgld, "gemm": Gemm, "mlp-train": Mlp, "mlp-infer": Mlp, "lenet-train": LeNet5, "adam": Adam,
         "mlp-grad": MlpCurvature, "mlp-hvp": MlpCurvature}


def main():
    work = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
            op = msg["op"]
            if op == "quit":
                break
            if op == "hello":
                reply = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                         "capability": cpu_capability(), "python": sys.version.split()[0]}
                reply.update(blas_info())
                reply["gemm_gflops"] = gemm_check()
            elif op == "setup":
                w = msg["workload"]
                work = None
                work = KINDS[w["kind"]](w, load_tensors(msg["data"], msg["tensors"]))
                reply = {"foreach": work.foreach} if hasattr(work, "foreach") else {}
            elif op == "check":
                reply = {"value": work.check()}
            elif op == "run":
                n = int(msg["iters"])
                step = work.step
                start = time.perf_counter()
                for _ in range(n):
                    step()
                reply = {"seconds": time.perf_counter() - start}
            else:
                raise ValueError(f"unknown op {op!r}")
            reply["ok"] = True
        except Exception as e:  # the harness reports it and goes on without this workload
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
