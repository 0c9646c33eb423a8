"""Applying right after the first server started: kubectl's "no matches for kind" is waited out
(bounded), every other failure is not."""

from __future__ import annotations

import pytest

from khz_tui.engine.nodes.cluster_api import missing_kind, retry_while_kinds_missing
from khz_tui.engine.nodes.session import CommandFailed, CommandResult

NO_KIND = ('error: resource mapping not found for name: "cilium" namespace: "kube-system" from "STDIN": '
           'no matches for kind "HelmChart" in version "helm.cattle.io/v1"\nensure CRDs are installed first\n')


def failed(stderr: str) -> CommandFailed:
    return CommandFailed("kubectl apply failed", node="demo-cp-1", address="127.0.0.1:22",
                         command="k3s kubectl apply -f -", result=CommandResult(1, "", stderr))


def test_kubectls_missing_kind_messages_are_recognised():
    assert missing_kind(NO_KIND)
    assert not missing_kind('Error from server (Forbidden): secrets "hcloud" is forbidden')


async def test_a_missing_kind_is_waited_for_then_applied():
    calls: list[int] = []
    waits: list[int] = []

    async def attempt() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise failed(NO_KIND)

    await retry_while_kinds_missing(attempt, attempts=5, interval=0, on_wait=waits.append)
    assert len(calls) == 3 and waits == [1, 2]


async def test_the_wait_is_bounded_and_other_errors_are_not_retried():
    calls: list[int] = []

    async def never() -> None:
        calls.append(1)
        raise failed(NO_KIND)

    with pytest.raises(CommandFailed):
        await retry_while_kinds_missing(never, attempts=4, interval=0)
    assert len(calls) == 4

    calls.clear()

    async def forbidden() -> None:
        calls.append(1)
        raise failed("Error from server (Forbidden)")

    with pytest.raises(CommandFailed):
        await retry_while_kinds_missing(forbidden, attempts=4, interval=0)
    assert len(calls) == 1
