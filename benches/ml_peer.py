"""onnxruntime peer of `cargo bench --bench ml`.

Usage: python3 benches/ml_peer.py JOBS.json, where JOBS.json is a list of
{"name", "model", "input", "shape", "runs"}: `input` is raw little-endian f32 laid out as
`shape`. Each model runs on one thread (tract is single-threaded), once to warm up and then
`runs` times. Prints one JSON line per model, {"name", "median_ms", "min_ms", "output",
"output_shape"} or {"name", "error"}, and writes the first output as raw little-endian f32 to
`input` + ".ort.f32" (the "output" field).
"""

import json
import statistics
import sys
import time

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:
    sys.exit(f"{e}: install the peer with `pip install onnxruntime onnx numpy`")


def options():
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


def session(model, shape):
    """A session whose input takes `shape`; a model that declares another fixed input shape
    (CenterFace says [10,3,32,32]) gets its input dims rewritten and its output dims cleared."""
    sess = ort.InferenceSession(model, options(), providers=["CPUExecutionProvider"])
    declared = sess.get_inputs()[0]
    fixed = len(declared.shape) != len(shape) or any(
        isinstance(d, int) and d != s for d, s in zip(declared.shape, shape)
    )
    if not fixed:
        return sess
    import onnx

    proto = onnx.load(model)
    # Every weight is a graph input too: edit only the real input, found by name.
    graph_input = next(i for i in proto.graph.input if i.name == declared.name)
    dims = graph_input.type.tensor_type.shape.dim
    del dims[:]
    for s in shape:
        dims.add().dim_value = s
    for output in proto.graph.output:
        output.type.tensor_type.ClearField("shape")
    del proto.graph.value_info[:]
    return ort.InferenceSession(
        proto.SerializeToString(), options(), providers=["CPUExecutionProvider"]
    )


def run(job):
    x = np.fromfile(job["input"], dtype="<f4").reshape(job["shape"])
    sess = session(job["model"], job["shape"])
    feed = {sess.get_inputs()[0].name: x}
    sess.run(None, feed)
    times = []
    for _ in range(job["runs"]):
        started = time.perf_counter()
        outputs = sess.run(None, feed)
        times.append((time.perf_counter() - started) * 1000)
    first = np.ascontiguousarray(outputs[0], dtype="<f4")
    path = job["input"] + ".ort.f32"
    first.tofile(path)
    return {
        "name": job["name"],
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "output": path,
        "output_shape": list(first.shape),
    }


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            line = run(job)
        except Exception as e:  # one broken model must not hide the others
            line = {"name": job["name"], "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
