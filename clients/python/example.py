"""Scores two NAS-Bench-201 cells through a running `wrcor serve`, shows a refused request, then runs
a small job (ten sampled cells) and follows its rows as they are scored.

    bin/wrcor serve &
    python3 clients/python/example.py                     # or --url http://HOST:PORT --token TOKEN
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrcor_client import Client, WrcorError, ZeroCostPredictor  # noqa: E402

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--token")
    p.add_argument("--small", action="store_true", help="a small network and batch (C=4, N=1, batch 8), for a quick check")
    a = p.parse_args()
    settings = {"channels": 4, "cells": 1, "batch": 8} if a.small else {}
    client = Client(a.url, token=a.token)
    print("health:", client.health()["status"])
    for row in client.score(CELLS, proxies=["wrcor", "naswot"], **settings):
        print(f"{row['arch']}  wrcor {row['scores']['wrcor']:.6f}  naswot {row['scores']['naswot']:.6f}  ({row['seconds']:.2f} s)")
    predictor = ZeroCostPredictor(client, proxy="wrcor", **settings)
    print(f"predictor.query: {predictor.query(CELLS[0]):.6f}")
    try:
        client.score(["|not_an_op~0|+|none~0|none~1|+|none~0|none~1|none~2|"], **settings)
    except WrcorError as e:
        print(f"refused: {e.status} {e.message}")
    job = client.create_job("score", sample=10, seed=1, proxies=["wrcor"], **settings)
    print(f"job {job['id']}: {job['total']} architectures")
    best = max(client.results(job["id"], follow=True), key=lambda row: row["scores"]["wrcor"])
    status = client.wait(job["id"], poll=0.2)
    print(f"job {status['state']}: {status['done']} of {status['total']} scored ({status['computed']} computed, "
          f"{status['reused']} already stored); best wrcor {best['scores']['wrcor']:.6f} {best['arch']}")


if __name__ == "__main__":
    main()
