#!/usr/bin/env python3
"""The benchmark driver behind scripts/bench.sh: scorelet against what users would pick instead,
side by side in one run on this machine. Writes out/bench/results.{json,md,svg}.

    python/bench/run.py [--smoke] [--out DIR]

--smoke runs every step briefly (CI) so the suite cannot rot; its numbers mean nothing."""

import argparse
import csv
import gzip
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TARGET = Path(os.environ["CARGO_TARGET_DIR"])
SCORELET = TARGET / "release/scorelet"
LOADGEN = TARGET / "release/loadgen"
CEILING = TARGET / "release/ceiling"
PY = sys.executable


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, text=True, capture_output=True, **kw).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gz(path):
    return len(gzip.compress(Path(path).read_bytes(), 9))


def size(path):
    p = Path(path)
    return {"raw_bytes": p.stat().st_size, "gzip_bytes": gz(p)} if p.is_file() else None


def post_ok(url, body):
    try:
        req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


class Server:
    """A server process; `cold_ms` is spawn → first 200 on the scoring route."""

    def __init__(self, name, cmd, url, body, log_file, env=None, cwd=None):
        self.name, self.url = name, url
        # A file, not a pipe: a server that logs every request (MLflow does) would block on a full
        # pipe nobody reads.
        self.log = open(log_file, "w")
        t = time.perf_counter()
        self.proc = subprocess.Popen([str(c) for c in cmd], env={**os.environ, **(env or {})}, cwd=cwd,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        while not post_ok(url, body):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {Path(log_file).read_text()[-2000:]}")
            if time.perf_counter() - t > 180:
                raise RuntimeError(f"{name} did not answer within 180 s")
            # 1 ms between tries (a refused connect costs microseconds), so the cold start of
            # a server that is up in ~10 ms is not read to the next 5 ms step.
            time.sleep(0.001)
        self.cold_ms = (time.perf_counter() - t) * 1e3

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def loadgen(url, body_file, requests, conns, rate=None):
    args = [LOADGEN, url, body_file, requests, conns] + ([f"{rate:.1f}"] if rate else [])
    return json.loads(run(args))


def train(out, model, precision):
    d = out / "bundles" / f"{model}-{precision}"
    if not (d / "manifest.json").exists():
        shutil.rmtree(d, ignore_errors=True)
        run([SCORELET, "train", "--data", REPO / "data/telco-churn.csv", "--target", "Churn", "--positive", "Yes",
             "--spec", REPO / "examples/telco.toml", "--model", model, "--precision", precision, "--name", "churn",
             "--output", d, "-q"])
    return d


def train_trees(out, label, model, extra):
    """A Telco tree bundle with fixed shape (`extra`: the CLI's tree options)."""
    d = out / "bundles" / label
    if not (d / "manifest.json").exists():
        shutil.rmtree(d, ignore_errors=True)
        run([SCORELET, "train", "--data", REPO / "data/telco-churn.csv", "--target", "Churn", "--positive", "Yes",
             "--spec", REPO / "examples/telco.toml", "--model", model, *extra, "--name", "churn", "--output", d, "-q"])
    return d


def criterion(bundles, smoke):
    spec = ",".join(f"{k}={v}" for k, v in bundles.items())
    quick = ["--warm-up-time", "0.2", "--measurement-time", "0.3", "--sample-size", "10"] if smoke else []
    subprocess.run(["cargo", "bench", "--locked", "--workspace", "--bench", "scoring", "--", *quick],
                   check=True, cwd=REPO, env={**os.environ, "SCORELET_BENCH_BUNDLES": spec},
                   stdout=subprocess.DEVNULL if smoke else sys.stderr)
    out = {}
    for label in bundles:
        for engine in ("native", "wasmtime", "model-compiled", "model-tract", "wasmtime-model"):
            for rows in (1, 100):
                f = TARGET / "criterion" / label / f"{engine}_{rows}" / "new/estimates.json"
                if f.is_file():
                    out[f"{label}/{engine}/{rows}"] = json.loads(f.read_text())["mean"]["point_estimate"] / 1e3  # µs
    return out


def overhead(bundles, smoke):
    """Metrics on vs off, interleaved (crates/bench/benches/overhead.rs): {label: {"native/1": {on_us, off_us, ratio}}}."""
    spec = ",".join(f"{k}={v}" for k, v in bundles.items())
    subprocess.run(["cargo", "bench", "--locked", "--workspace", "--bench", "overhead", "--", *(["--quick"] if smoke else [])],
                   check=True, cwd=REPO, env={**os.environ, "SCORELET_BENCH_BUNDLES": spec},
                   stdout=subprocess.DEVNULL if smoke else sys.stderr)
    return json.loads((TARGET / "overhead.json").read_text())


def measured(cmd, cwd=None):
    """Runs `cmd` to completion: (wall seconds, peak resident memory of it and its children
    together in MB, sampled every 10 ms from /proc)."""
    t = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.01)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, peak / 1024


def tree_rss_kb(pid):
    total = 0
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in open(f"/proc/{pid}/task/{task}/children").read().split():
                total += tree_rss_kb(int(child))
    except (OSError, ValueError):
        pass
    return total


def batch(out, bundles, models, smoke):
    """`scorelet predict` over a large Telco CSV against pandas + preprocess.py + onnxruntime
    (batch_peer.py, two processes), the same output file; both may use both cores."""
    n = 20_000 if smoke else 500_000
    data = out / f"telco-{n}.csv"
    if not data.is_file():
        run([PY, REPO / "python/gen_large_telco.py", n, data])
    res = {"rows": n}
    for m in models:
        for precision in ("int8", "float32"):
            label = f"{m}-{precision}"
            d = bundles[label]
            ours, peer = out / f"batch-{label}.scorelet.jsonl", out / f"batch-{label}.peer.jsonl"
            s_wall, s_rss = measured([SCORELET, "predict", "--bundle", d, "--input", data, "--output", ours, "--quiet"])
            p_wall, p_rss = measured([PY, HERE / "batch_peer.py", d, data, peer, "--workers", "2"], cwd=HERE)
            a, b = ours.read_text().splitlines(), peer.read_text().splitlines()
            if len(a) != len(b) or len(a) != n:
                raise RuntimeError(f"batch {label}: {len(a)} lines from scorelet, {len(b)} from the peer, {n} rows")
            same = sum(x == y for x, y in zip(a, b))
            pa = [json.loads(x) for x in a]
            pb = [json.loads(y) for y in b]
            res[label] = {"scorelet_s": s_wall, "scorelet_rss_mb": s_rss, "peer_s": p_wall, "peer_rss_mb": p_rss,
                          "identical_lines": same,
                          "label_differences": sum(x["label"] != y["label"] for x, y in zip(pa, pb)),
                          "max_difference": max(abs(x["probability"] - y["probability"]) for x, y in zip(pa, pb))}
            ours.unlink()
            peer.unlink()
    return res


def python_env_sizes():
    import importlib.util
    site = Path(importlib.util.find_spec("numpy").origin).parents[1]

    def du(*names):
        total = 0
        for n in names:
            for p in site.glob(n):
                total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
        return total

    base = ("numpy", "numpy.libs", "onnxruntime")
    return {
        "onnxruntime + numpy": du(*base),
        "onnxruntime + numpy + pandas": du(*base, "pandas"),
        "scikit-learn + scipy + numpy (MLflow's model)": du("numpy", "numpy.libs", "scipy", "scipy.libs", "sklearn",
                                                              "scikit_learn.libs"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", default=str(REPO / "out/bench"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    smoke = a.smoke
    res = {"machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "os": platform.platform(),
                       "python": platform.python_version()},
           "smoke": smoke, "date": time.strftime("%Y-%m-%d")}

    models = ["logreg"] if smoke else ["logreg", "mlp"]
    log("train the Telco bundles (INT8 and float), and two tree ensembles")
    bundles = {f"{m}-{p}": train(out, m, p) for m in models for p in ("int8", "float32")}
    # The trees issue's shapes: 100 trees of depth 6 (boosted), 100 of depth 10 (the forest).
    trees = {
        "gbdt-d6": train_trees(out, "gbdt-d6", "gbdt", ["--n-trees", "100", "--max-depth", "6", "--num-leaves", "64",
                                                        "--early-stopping", "0"]),
        "forest-d10": train_trees(out, "forest-d10", "random-forest", ["--n-trees", "100", "--max-depth", "10"]),
    }
    res["models"] = {}
    for label, d in {**bundles, **trees}.items():
        m = json.loads((d / "manifest.json").read_text())
        res["models"][label] = {"onnx_bytes": (d / "model.onnx").stat().st_size,
                                **{k: m["metrics"][k] for k in ("roc_auc", "accuracy", "log_loss")}}

    with open(REPO / "data/telco-churn.csv", newline="") as f:
        rows = [{k: v for k, v in r.items() if k != "Churn"} for r, _ in zip(csv.DictReader(f), range(500))]
    rows_file = out / "rows.json"
    rows_file.write_text(json.dumps(rows))
    jsonl = out / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    body1 = out / "body-1.json"
    body1.write_text(json.dumps({"dataframe_records": rows[:1]}))

    log("in process: criterion (scorelet native and in wasmtime)")
    res["criterion_us"] = criterion({**bundles, **trees}, smoke)
    log("in process: the price of metrics (on vs off, interleaved)")
    res["metrics_overhead"] = overhead(bundles, smoke)
    log("in process: onnxruntime + pandas (Python, one thread)")
    res["onnxruntime_us"] = {}
    for label, d in {**bundles, **trees}.items():
        expect = out / f"expect-{label}.jsonl"
        expect.write_text(run([SCORELET, "predict", "--bundle", d, "--input", jsonl, "--quiet"]))
        res["onnxruntime_us"][label] = json.loads(run([PY, HERE / "inprocess.py", d, rows_file, "--seconds",
                                                        "0.2" if smoke else "3", "--expect", expect], cwd=HERE))

    log("HTTP serving and cold start: scorelet serve, FastAPI + onnxruntime, mlflow models serve")
    res["http"] = {}
    seconds = 0.5 if smoke else 6  # per load phase
    for m in models:
        mlflow_dir = out / f"mlflow-{m}"
        if not (mlflow_dir / "MLmodel").exists():
            shutil.rmtree(mlflow_dir, ignore_errors=True)
            run([PY, HERE / "mlflow_model.py", REPO / "data/telco-churn.csv", m, mlflow_dir])
        b = bundles[f"{m}-int8"]
        servers = {
            "scorelet": lambda p: ([SCORELET, "serve", "--bundle", b, "--addr", f"127.0.0.1:{p}",
                                    "--cache", TARGET / "component-cache"], {}, None),
            "fastapi": lambda p: ([PY, "-m", "uvicorn", "fastapi_server:app", "--port", p, "--workers", "2",
                                   "--log-level", "warning"], {"BUNDLE": str(b)}, HERE),
            "mlflow": lambda p: ([Path(PY).parent / "mlflow", "models", "serve", "-m", mlflow_dir, "-p", p,
                                  "--env-manager", "local", "--workers", "2"],
                                 {"PATH": f"{Path(PY).parent}:{os.environ['PATH']}"}, None),
        }
        for name, make in servers.items():
            port = free_port()
            cmd, env, cwd = make(port)
            url = f"http://127.0.0.1:{port}/invocations"
            if name == "scorelet":
                # One start first, as a deployment's build step would: it compiles the component
                # and writes the bundle's pre-initialized component into the cache (both once
                # per bundle and machine); the measured start below reads them.
                Server(name, cmd, url, body1.read_bytes(), out / f"{m}-{name}-prime.log", env, cwd).stop()
            s = Server(name, cmd, url, body1.read_bytes(), out / f"{m}-{name}.log", env, cwd)
            try:
                probe = loadgen(url, body1, 100, 4)  # sizes the phases so each takes `seconds`
                sat = loadgen(url, body1, max(100, int(probe["rps"] * seconds)), 4)
                half = sat["rps"] / 2
                lat = loadgen(url, body1, max(50, int(half * seconds)), 4, half)
                res["http"][f"{m}/{name}"] = {"cold_start_ms": s.cold_ms, "saturation": sat, "half_load": lat}
                if name == "scorelet":
                    # The engine issue's bar: p99 at a fixed 1 000 requests/s.
                    res["http"][f"{m}/{name}"]["fixed_1000"] = loadgen(url, body1, int(1000 * seconds), 4, 1000)
            finally:
                s.stop()

    log("HTTP ceiling: a minimal hyper server answering a fixed body, same load")
    port = free_port()
    ceiling = subprocess.Popen([CEILING, f"127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        ceiling.stdout.readline()  # "listening on …"
        url = f"http://127.0.0.1:{port}/invocations"
        probe = loadgen(url, body1, 200, 4)
        res["http_ceiling"] = loadgen(url, body1, max(200, int(probe["rps"] * seconds)), 4)
    finally:
        os.killpg(ceiling.pid, signal.SIGTERM)
        ceiling.wait()

    log("batch: scorelet predict over a large CSV, against pandas + onnxruntime")
    res["batch"] = batch(out, bundles, models, smoke)

    log("cold start: the Lambda bootstrap against a local Runtime API")
    res["lambda"] = lambda_cold_start(out, bundles[f"{models[0]}-int8"], 1 if smoke else 5, body1)

    log("sizes")
    # The package the Lambda step above built (lean component for these models) first.
    lambda_zip = next((p for p in (out / "lambda.zip", TARGET / "lambda-test.zip", REPO / "out/lambda/scorelet-lambda.zip")
                       if p.is_file()), None)
    ort_dir = REPO / "js/node_modules/onnxruntime-web/dist"
    res["sizes"] = {
        "scorelet component (wasip2)": size(TARGET / "wasm32-wasip2/release/scorelet_spin.wasm"),
        "scorelet lean component (wasip2, no tract: models on the compiled engine)":
            size(TARGET / "wasm32-wasip2/release/scorelet_spin_lean.wasm"),
        "scorelet browser package (simd128 wasm)": size(Path(os.environ["SCORELET_WEB_PKG"]) / "simd128/scorelet_web_bg.wasm"),
        "scorelet Lambda zip": {"raw_bytes": lambda_zip.stat().st_size} if lambda_zip else None,
        "onnxruntime-web wasm": size(ort_dir / "ort-wasm-simd-threaded.wasm"),
        **{f"Python env: {k}": {"raw_bytes": v} for k, v in python_env_sizes().items()},
    }

    (out / "results.json").write_text(json.dumps(res, indent=2))
    (out / "results.md").write_text(markdown(res))
    (out / "results.svg").write_text(svg(res))
    log(f"wrote {out}/results.md, results.json, results.svg")
    print(markdown(res))


def lambda_cold_start(out, bundle, rounds, body1):
    """Unzipped Lambda package (bootstrap + precompiled component + bundle) started against a
    minimal Runtime API on loopback: spawn → the first invocation's response, as Lambda's Init +
    first Invoke would see it (no download of the package, no sandbox start)."""
    import http.server
    import threading
    import zipfile

    bootstrap = TARGET / "release/bootstrap"
    if not bootstrap.is_file():
        return {"skipped": "no release bootstrap built (scripts/test.sh builds it)"}
    pkg = out / "lambda.zip"
    # No --component: the package script picks the lean one for a model on the compiled engine.
    subprocess.run([REPO / "scripts/package-lambda.sh", "--bundle", bundle, "--bootstrap", bootstrap, "--out", pkg],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    task = out / "lambda-task"
    shutil.rmtree(task, ignore_errors=True)
    with zipfile.ZipFile(pkg) as z:
        z.extractall(task)
    (task / "bootstrap").chmod(0o755)
    event = json.dumps({"version": "2.0", "routeKey": "$default", "rawPath": "/invocations", "rawQueryString": "",
                        "headers": {"content-type": "application/json"},
                        "requestContext": {"http": {"method": "POST", "path": "/invocations", "protocol": "HTTP/1.1",
                                                    "sourceIp": "127.0.0.1", "userAgent": "bench"},
                                           "accountId": "1", "apiId": "a", "domainName": "x", "requestId": "r",
                                           "routeKey": "$default", "stage": "$default", "timeEpoch": 0},
                        "body": body1.read_text(), "isBase64Encoded": False}).encode()
    times = []
    for _ in range(rounds):
        done = threading.Event()
        served = []

        class Api(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if served:
                    done.wait(30)
                    return
                served.append(1)
                self.send_response(200)
                for k, v in (("lambda-runtime-aws-request-id", "req-1"),
                             ("lambda-runtime-deadline-ms", str(int(time.time() * 1000) + 30000)),
                             ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:1:function:scorelet"),
                             ("content-type", "application/json"), ("content-length", str(len(event)))):
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(event)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()
                if "/response" in self.path and b'"statusCode":200' in body.replace(b" ", b""):
                    done.set()

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{srv.server_address[1]}",
               "AWS_LAMBDA_FUNCTION_NAME": "scorelet", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "LAMBDA_TASK_ROOT": str(task)}
        t = time.perf_counter()
        proc = subprocess.Popen([task / "bootstrap"], env=env, cwd=task, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        ok = done.wait(60)
        times.append((time.perf_counter() - t) * 1e3 if ok else float("nan"))
        proc.kill()
        proc.wait()
        srv.shutdown()
    times.sort()
    return {"first_response_ms": times[len(times) // 2], "runs_ms": times, "zip_bytes": pkg.stat().st_size}


def cpu_model():
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def ratios(res):
    """(section, label, scorelet, peer, unit, peer name) for every side-by-side number."""
    out = []
    c, o = res["criterion_us"], res["onnxruntime_us"]
    for label in res["onnxruntime_us"]:
        for rows, key in ((1, "row_us"), (100, "batch100_us")):
            for engine in ("native", "wasmtime"):
                out.append(("in process, µs per call", f"{label}, {rows} row{'s' if rows > 1 else ''}, scorelet {engine}",
                            c[f"{label}/{engine}/{rows}"], o[label][key], "µs", "onnxruntime + pandas"))
    for label in res["onnxruntime_us"]:
        for rows, key in ((1, "model_row_us"), (100, "model_batch100_us")):
            for engine in ("compiled", "tract", "compiled in wasmtime"):
                k = f"{label}/wasmtime-model/{rows}" if engine == "compiled in wasmtime" else f"{label}/model-{engine}/{rows}"
                if k in c and key in o[label]:
                    out.append(("model only, ready float32 feature matrix, µs per call", f"{label}, {rows} row{'s' if rows > 1 else ''}, scorelet {engine} engine",
                                c[k], o[label][key], "µs", "onnxruntime session.run"))
    for label, cases in res.get("metrics_overhead", {}).items():
        for case, v in cases.items():
            where, rows = case.split("/")
            what = "native" if where == "native" else "in wasmtime, with serve's aggregate"
            out.append(("the price of metrics: on / off, µs per call (goal for 1 row native: at most 1.05×)",
                        f"{label}, {rows} row{'s' if rows != '1' else ''}, {what}", v["on_us"], v["off_us"], "µs",
                        "the same with metrics off"))
    for key, h in res["http"].items():
        m, name = key.split("/")
        if name == "scorelet":
            continue
        s = res["http"][f"{m}/scorelet"]
        out.append(("HTTP, requests/s at saturation (higher is better)", f"{m}", s["saturation"]["rps"],
                    h["saturation"]["rps"], "req/s", name))
        for p in ("p50_us", "p99_us"):
            out.append((f"HTTP, {p[:3]} at half of the peer's own saturation", f"{m}", s["half_load"][p] / 1e3,
                        h["half_load"][p] / 1e3, "ms", name))
        out.append(("cold start: process spawn → first scored response", f"{m}", s["cold_start_ms"],
                    h["cold_start_ms"], "ms", name))
    ceiling = res.get("http_ceiling")
    for key, h in res["http"].items():
        m, name = key.split("/")
        if name == "scorelet" and ceiling:
            out.append(("HTTP, requests/s at saturation (higher is better)", f"{m}", h["saturation"]["rps"],
                        ceiling["rps"], "req/s", "the ceiling: a minimal hyper server, fixed body"))
    b = res.get("batch", {})
    for label, v in b.items():
        if label == "rows":
            continue
        sec = f"batch: {b['rows']:,} Telco rows, CSV → JSON lines"
        peer = "pandas + preprocess.py + onnxruntime, 2 processes"
        out.append((sec, f"{label}, wall time", v["scorelet_s"], v["peer_s"], "s", peer))
        out.append((sec, f"{label}, peak RSS", v["scorelet_rss_mb"], v["peer_rss_mb"], "MB", peer))
    return out


def markdown(res):
    mc = res["machine"]
    lines = [f"# scorelet vs the alternatives — {res['date']}{' (SMOKE: numbers are meaningless)' if res['smoke'] else ''}",
             "", f"Machine: {mc['cpus']} cores, {mc['cpu']}; {mc['os']}; Python {mc['python']}. One run; "
             "ratio = scorelet / peer (below 1 is better for scorelet, except requests/s).", ""]
    sections = {}
    for sec, *rest in ratios(res):
        sections.setdefault(sec, []).append(rest)
    for sec, items in sections.items():
        lines += ["", f"### {sec}", "", "| case | scorelet | peer | peer value | scorelet / peer |", "|---|---|---|---|---|"]
        for label, s, p, unit, peer in items:
            lines.append(f"| {label} | {s:,.1f} {unit} | {peer} | {p:,.1f} {unit} | {s / p:.3g}× |")
    lam = res.get("lambda", {})
    if "first_response_ms" in lam:
        lines += ["", "### Lambda bootstrap (no peer run here)", "",
                  f"Unzipped package, local Runtime API: spawn → first scored response, median "
                  f"{lam['first_response_ms']:.1f} ms (runs: {', '.join(f'{t:.0f}' for t in lam['runs_ms'])} ms); "
                  f"zip {lam['zip_bytes'] / 1e6:.1f} MB."]
    fixed = {k: v["fixed_1000"] for k, v in res["http"].items() if "fixed_1000" in v}
    if fixed:
        lines += ["", "### HTTP at a fixed 1 000 requests/s (scorelet serve, 4 connections, no coordinated omission)", "",
                  "| model | p50 | p99 | max | non-200 |", "|---|---|---|---|---|"]
        for k, v in fixed.items():
            lines.append(f"| {k.split('/')[0]} | {v['p50_us'] / 1e3:.2f} ms | {v['p99_us'] / 1e3:.2f} ms | "
                         f"{v['max_us'] / 1e3:.2f} ms | {v['errors']} |")
    if res.get("batch"):
        b = res["batch"]
        lines += ["", "Batch outputs, scorelet vs the peer: " + "; ".join(
            f"{k} {v['identical_lines'] / b['rows']:.1%} of lines identical, {v['label_differences']} labels differ, "
            f"largest probability difference {v['max_difference']:.1e}" for k, v in b.items() if k != "rows") + "."]
    lines += ["", "### Model size and accuracy (Telco holdout)", "", "| bundle | model.onnx | ROC-AUC | accuracy | log loss |",
              "|---|---|---|---|---|"]
    for label, m in res["models"].items():
        lines.append(f"| {label} | {m['onnx_bytes']:,} B | {m['roc_auc']:.4f} | {m['accuracy']:.4f} | {m['log_loss']:.4f} |")
    lines += ["", "### Sizes", "", "| artifact | raw | gzip -9 |", "|---|---|---|"]
    for k, v in res["sizes"].items():
        if v:
            gzv = f"{v['gzip_bytes'] / 1e6:.2f} MB" if "gzip_bytes" in v else "–"
            lines.append(f"| {k} | {v['raw_bytes'] / 1e6:.2f} MB | {gzv} |")
    lines += ["", "In-process scorelet numbers are the whole `/invocations` path (JSON body → rows → features → model → "
              "JSON answer); onnxruntime's are records → pandas DataFrame → features → `session.run` → sigmoid. "
              "Largest probability difference, onnxruntime vs scorelet: "
              + ", ".join(f"{k} {v.get('max_difference', float('nan')):.1e}" for k, v in res["onnxruntime_us"].items()) + "."]
    return "\n".join(lines) + "\n"


def svg(res):
    """Horizontal bars of scorelet / peer on a log scale; 1× in the middle."""
    import math
    rs = [(f"{sec.split(',')[0]}: {label} vs {peer}", s / p if "req/s" not in unit else p / s)
          for sec, label, s, p, unit, peer in ratios(res)]
    w, row, left = 900, 22, 430
    h = 40 + row * len(rs)
    mid, span = left + (w - left - 20) / 2, (w - left - 20) / 2
    x = lambda r: mid + max(-1, min(1, math.log10(r) / 2)) * span  # 0.01× … 100×
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="14">time ratio scorelet / peer (log scale, 0.01× … 100×; left of the line: scorelet faster)</text>',
           f'<line x1="{mid}" y1="20" x2="{mid}" y2="{h - 5}" stroke="#000"/>']
    for i, (label, r) in enumerate(rs):
        y = 28 + i * row
        x0, x1 = sorted((mid, x(r)))
        color = "#2563eb" if r <= 1 else "#dc2626"
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{row - 6}" fill="{color}"/>')
        out.append(f'<text x="{x(r) + (4 if r > 1 else -4):.1f}" y="{y + 12}" text-anchor="{"start" if r > 1 else "end"}">{r:.2f}×</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
