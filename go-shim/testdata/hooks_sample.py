"""Hooks for the hook point tests (hooks_test.go)."""

import time

import pyhost


@pyhost.dispatch("echo")
def first(req):
    if req == "answer":
        return "answered"
    if req == "false":
        return False
    if req == "raise":
        raise RuntimeError("the hook broke")
    if req == "slow":
        time.sleep(0.05)
        return "late answer"
    if isinstance(req, dict):
        return {"seen": req["n"]}
    return None


@pyhost.completion("echo")
def after(req, result):
    if req == "replace":
        return result + "!"
    if req == "bad":
        return {1, 2}  # a set cannot cross to Go
    return None


@pyhost.dispatch("noop")
def noop(req):
    return None
