"""A client for `wrcor serve`, standard library only.

    from wrcor_client import Client, ZeroCostPredictor
    client = Client("http://127.0.0.1:8080")           # token="..." when the server has --token-file
    rows = client.score(["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"],
                        proxies=["wrcor", "synflow"])
    rows[0]["scores"]["wrcor"]

    predictor = ZeroCostPredictor(client, proxy="wrcor")  # NASLib-style: query(arch) -> score
    predictor.query("|nor_conv_3x3~0|+|...|")

    job = client.create_job("score", sample=1000, proxies=["wrcor"])  # long runs: a job
    for row in client.results(job["id"], follow=True):                # rows as they are scored
        ...
    client.job(job["id"])["state"]                                    # "done"; cancel_job(id) stops it
"""
import base64
import json
import os
import math
import urllib.error
import urllib.request

__all__ = ["Client", "ZeroCostPredictor", "WrcorError"]


class WrcorError(Exception):
    """A request the server refused or could not answer: `status` (HTTP) and the server's message."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class Client:
    def __init__(self, url="http://127.0.0.1:8080", token=None, timeout=3600, client_id=None):
        """client_id names this client for the server's fair share (X-Client-Id; default: its address)."""
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.client_id = client_id

    def _open(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if self.client_id:
            req.add_header("X-Client-Id", self.client_id)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read().decode("utf-8")).get("error", e.reason)
            except ValueError:
                message = e.reason
            raise WrcorError(e.code, message) from None

    def _request(self, method, path, body=None):
        with self._open(method, path, body) as r:
            answer = json.loads(r.read().decode("utf-8"))
        # a long score request's answer starts before its rows are known; a failure then comes inside it
        if isinstance(answer, dict) and "error" in answer and "status" in answer:
            raise WrcorError(answer["status"], answer["error"])
        return answer

    def health(self):
        return self._request("GET", "/v1/health")

    def score(self, archs, proxies=("wrcor",), space="nb201", **settings):
        """The server's rows for `archs`, in order; scores that are not finite come back as float nan/inf.

        settings: batch, seed, channels, cells, classes (the CLI's meanings)."""
        body = {"space": space, "archs": list(archs), "proxies": list(proxies)}
        body.update(settings)
        return [_floats(row) for row in self._request("POST", "/v1/score", body)["results"]]

    def score_onnx(self, model, proxies=("wrcor",), name=None, **settings):
        """The server's row for an ONNX model: `model` is the file's bytes, a path on this machine (sent as
        base64, within the server's body limit), or {"path": "rel/model.onnx"} for a model in the server's
        data directory. settings: batch, seed, data. The row's "run" names the model's content digest."""
        body = {"proxies": list(proxies)}
        if isinstance(model, dict) and "path" in model:
            body["onnx_path"] = model["path"]
        else:
            if isinstance(model, (str, os.PathLike)):
                with open(model, "rb") as f:
                    data = f.read()
                name = name or os.path.basename(str(model))
            else:
                data = bytes(model)
            body["onnx"] = base64.b64encode(data).decode("ascii")
        if name:
            body["name"] = name
        body.update(settings)
        return _floats(self._request("POST", "/v1/score", body)["results"][0])

    def score_torch(self, module, input_shape, proxies=("wrcor",), name=None, **settings):
        """Exports a torch.nn.Module in memory (opset 13, training mode so that BN stays a node, a dynamic
        batch axis; needs torch on this side) and scores it as score_onnx does. input_shape is
        (channels, height, width) or (batch, channels, height, width)."""
        import io as _io

        import torch

        shape = tuple(input_shape)
        if len(shape) == 3:
            shape = (2,) + shape
        buf = _io.BytesIO()
        was_training = module.training
        module.train()
        try:
            torch.onnx.export(module, torch.randn(*shape), buf, opset_version=13, training=torch.onnx.TrainingMode.TRAINING,
                              do_constant_folding=False, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        finally:
            module.train(was_training)
        return self.score_onnx(buf.getvalue(), proxies=proxies, name=name or type(module).__name__ + ".onnx", **settings)

    def create_job(self, kind, space="nb201", **fields):
        """Starts a job; kind: "score" (archs=[...] or sample=N), "correlate" (sample=N or all=True, gt),
        "search" (algo, n, objective, population, tournament, gt); plus proxies, batch, seed,
        channels, cells, classes, data, out. Returns its status (id, state, total, ...)."""
        body = {"kind": kind, "space": space}
        body.update({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
        return self._request("POST", "/v1/jobs", body)

    def job(self, job_id):
        """A job's status: state, done/total, progress, eta_seconds, and result once done."""
        return self._request("GET", "/v1/jobs/" + job_id)

    def jobs(self):
        return self._request("GET", "/v1/jobs")["jobs"]

    def cancel_job(self, job_id):
        return self._request("DELETE", "/v1/jobs/" + job_id)

    def results(self, job_id, start=0, follow=False):
        """A job's rows from row `start`; with follow=True, yields each row as the server scores it, until the job ends."""
        path = "/v1/jobs/%s/results?from=%d&follow=%s" % (job_id, start, "true" if follow else "false")
        with self._open("GET", path) as r:
            for line in r:
                if line.strip():
                    yield _floats(json.loads(line.decode("utf-8")))

    def wait(self, job_id, poll=1.0):
        """Polls until the job is over (done, failed or cancelled) and returns its status."""
        import time
        while True:
            status = self.job(job_id)
            if status["state"] in ("done", "failed", "cancelled"):
                return status
            time.sleep(poll)


def _floats(row):
    if "scores" in row:
        row["scores"] = {k: _SPECIAL.get(v, v) if isinstance(v, str) else v for k, v in row["scores"].items()}
    return row


class ZeroCostPredictor:
    """A NASLib-style zero-cost predictor: query(arch) -> score, higher meaning better.

    `arch` is the space's architecture string (NAS-Bench-201's '|op~0|+|...|', NAS-Bench-101's
    'rows ops', the MobileNetV2-like structure string); convert NASLib graph objects to it first."""

    def __init__(self, client, proxy="wrcor", space="nb201", **settings):
        self.client = client
        self.proxy = proxy
        self.space = space
        self.settings = settings

    def query(self, arch):
        return self.query_batch([arch])[0]

    def query_batch(self, archs):
        rows = self.client.score(archs, proxies=[self.proxy], space=self.space, **self.settings)
        return [row["scores"][self.proxy] for row in rows]
