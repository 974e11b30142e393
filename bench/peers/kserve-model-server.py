"""KServe's Python model server serving one ONNX file with ONNX Runtime, the way a
KServe user writes a custom predictor: a kserve.Model subclass, ModelServer over
Open Inference Protocol v2 REST at /v2/models/{name}/infer. Used by
bench/peers-model-server.ts as the peer of `karb serve`.

One process (one uvicorn worker), gRPC off, per-request latency logging off
(a line per request would measure logging). KServe's Python server has no
batcher of its own (KServe batches in a separate Go agent in front of it on
Kubernetes), so each request is one model run, as a user would get it.

Usage: python kserve-model-server.py --model FILE --name NAME --port N --threads N
Prints "listening <port>" on stdout once the model is loaded and the server is up.
"""
import argparse
import os
import sys
import threading
import time
import uuid
import urllib.request

import numpy as np
import onnxruntime as ort

own = argparse.ArgumentParser()
own.add_argument("--model", required=True)
own.add_argument("--name", required=True)
own.add_argument("--port", type=int, required=True)
own.add_argument("--threads", type=int, default=os.cpu_count())
opts, _ = own.parse_known_args()

# kserve parses sys.argv when imported; give it only its own flags.
sys.argv = [sys.argv[0], "--http_port", str(opts.port), "--enable_grpc", "false", "--enable_latency_logging", "false", "--configure_logging", "false", "--workers", "1"]

import uvicorn  # noqa: E402

# KServe binds 0.0.0.0 without a flag to change it; the benchmark keeps every server on loopback.
_Config = uvicorn.Config
uvicorn.Config = lambda *a, **k: _Config(*a, **{**k, "host": "127.0.0.1"})

import kserve  # noqa: E402
from kserve import InferOutput, InferRequest, InferResponse  # noqa: E402

# Only warnings: an access-log line per request would measure logging, not serving.
import logging  # noqa: E402

for name in ("kserve", "uvicorn", "uvicorn.access", "uvicorn.error", "kserve.trace"):
    logging.getLogger(name).setLevel(logging.WARNING)

TO_OIP = {np.dtype("float32"): "FP32", np.dtype("float64"): "FP64", np.dtype("int64"): "INT64", np.dtype("int32"): "INT32"}


class OnnxModel(kserve.Model):
    def __init__(self, name: str, path: str, threads: int):
        super().__init__(name)
        self.path = path
        self.threads = threads
        self.session = None

    def load(self) -> bool:
        # The same session settings as karb serve (src/serving/ort-session.ts).
        so = ort.SessionOptions()
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.inter_op_num_threads = 1
        so.intra_op_num_threads = self.threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.log_severity_level = 3
        self.session = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feeds = {t.name: t.as_numpy().astype(np.float32, copy=False) for t in payload.inputs}
        results = self.session.run(self.outputs, feeds)
        outs = []
        for name, y in zip(self.outputs, results):
            outs.append(InferOutput(name=name, shape=list(y.shape), datatype=TO_OIP.get(y.dtype, "FP32"), data=y.ravel().tolist()))
        return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name, infer_outputs=outs)


def announce_when_ready(port: int, name: str) -> None:
    url = f"http://127.0.0.1:{port}/v2/models/{name}/ready"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    print(f"listening {port}", flush=True)
                    return
        except Exception:
            pass
        time.sleep(0.05)


if __name__ == "__main__":
    model = OnnxModel(opts.name, opts.model, opts.threads)
    model.load()
    threading.Thread(target=announce_when_ready, args=(opts.port, opts.name), daemon=True).start()
    kserve.ModelServer(http_port=opts.port, enable_grpc=False, workers=1, enable_latency_logging=False).start([model])
