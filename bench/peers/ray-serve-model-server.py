"""Ray Serve serving one ONNX file with ONNX Runtime behind `@serve.batch`, on the
same Open Inference Protocol v2 JSON route as karb serve
(POST /v2/models/{name}/infer). Used by bench/peers-model-server.ts as a peer of
`karb serve`.

One local Ray instance (no dashboard, no usage reporting), one replica of one
deployment, its HTTP proxy on loopback. Ray starts several processes (GCS,
raylet, the proxy actor, the replica actor, helpers); the benchmark counts the
CPU and memory of all of them. The batch settings are karb serve's defaults
(at most 32 rows per run, a 4 ms window), and the replica accepts enough
concurrent requests for a batch to fill (Ray's default of 5 would cap it).

Usage: python ray-serve-model-server.py --model FILE --name NAME --port N --threads N
Prints "listening <port>" on stdout once the deployment answers.
"""
import argparse
import os
import signal
import sys
import time
import urllib.request

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

own = argparse.ArgumentParser()
own.add_argument("--model", required=True)
own.add_argument("--name", required=True)
own.add_argument("--port", type=int, required=True)
own.add_argument("--threads", type=int, default=os.cpu_count())
own.add_argument("--max-batch-size", type=int, default=32)
own.add_argument("--batch-wait-ms", type=float, default=4.0)
opts = own.parse_args()

import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

TO_OIP = {np.dtype("float32"): "FP32", np.dtype("float64"): "FP64", np.dtype("int64"): "INT64", np.dtype("int32"): "INT32"}


@serve.deployment(num_replicas=1, max_ongoing_requests=1024, ray_actor_options={"num_cpus": 0})
class OnnxDeployment:
    def __init__(self, path: str, name: str, threads: int, max_batch_size: int, batch_wait_s: float):
        import onnxruntime as ort

        # The same session settings as karb serve (src/serving/ort-session.ts).
        so = ort.SessionOptions()
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.inter_op_num_threads = 1
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.log_severity_level = 3
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.name = name
        self.run_batch.set_max_batch_size(max_batch_size)
        self.run_batch.set_batch_wait_timeout_s(batch_wait_s)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.004)
    async def run_batch(self, xs: list) -> list:
        sizes = [x.shape[0] for x in xs]
        ys = self.session.run(self.outputs, {self.input: np.concatenate(xs)})
        out, start = [], 0
        for n in sizes:
            out.append([y[start : start + n] for y in ys])
            start += n
        return out

    async def __call__(self, request: Request) -> JSONResponse:
        body = await request.json()
        inp = body["inputs"][0]
        x = np.asarray(inp["data"], dtype=np.float32).reshape(inp["shape"])
        ys = await self.run_batch(x)
        outputs = [
            {"name": name, "datatype": TO_OIP.get(y.dtype, "FP32"), "shape": list(y.shape), "data": y.ravel().tolist()}
            for name, y in zip(self.outputs, ys)
        ]
        response = {"model_name": self.name, "outputs": outputs}
        if "id" in body:
            response["id"] = body["id"]
        return JSONResponse(response)


def wait_until_answering(port: int, name: str, input_name: str, width: int) -> None:
    body = ('{"inputs":[{"name":"%s","datatype":"FP32","shape":[1,%d],"data":[%s]}]}' % (input_name, width, ",".join(["0"] * width))).encode()
    url = f"http://127.0.0.1:{port}/v2/models/{name}/infer"
    for _ in range(1200):
        try:
            req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError("the deployment never answered")


if __name__ == "__main__":
    import onnxruntime as ort

    probe = ort.InferenceSession(opts.model, providers=["CPUExecutionProvider"]).get_inputs()[0]
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": "127.0.0.1", "port": opts.port}, logging_config={"log_level": "WARNING", "enable_access_log": False})
    serve.run(
        OnnxDeployment.bind(opts.model, opts.name, opts.threads, opts.max_batch_size, opts.batch_wait_ms / 1000),
        name=opts.name,
        route_prefix=f"/v2/models/{opts.name}/infer",
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )
    wait_until_answering(opts.port, opts.name, probe.name, probe.shape[1])
    print(f"listening {opts.port}", flush=True)

    def stop(*_):
        serve.shutdown()
        ray.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        time.sleep(3600)
