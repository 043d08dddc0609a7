"""A client for `wrcor serve`, standard library only.

    from wrcor_client import Client, ZeroCostPredictor
    client = Client("http://127.0.0.1:8080")           # token="..." when the server has --token-file
    rows = client.score(["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"],
                        proxies=["wrcor", "synflow"])
    rows[0]["scores"]["wrcor"]

    predictor = ZeroCostPredictor(client, proxy="wrcor")  # NASLib-style: query(arch) -> score
    predictor.query("|nor_conv_3x3~0|+|...|")
"""
import json
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
    def __init__(self, url="http://127.0.0.1:8080", token=None, timeout=3600):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read().decode("utf-8")).get("error", e.reason)
            except ValueError:
                message = e.reason
            raise WrcorError(e.code, message) from None

    def health(self):
        return self._request("GET", "/v1/health")

    def score(self, archs, proxies=("wrcor",), space="nb201", **settings):
        """The server's rows for `archs`, in order; scores that are not finite come back as float nan/inf.

        settings: batch, seed, channels, cells, classes (the CLI's meanings)."""
        body = {"space": space, "archs": list(archs), "proxies": list(proxies)}
        body.update(settings)
        rows = self._request("POST", "/v1/score", body)["results"]
        for row in rows:
            row["scores"] = {k: _SPECIAL.get(v, v) if isinstance(v, str) else v for k, v in row["scores"].items()}
        return rows


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
