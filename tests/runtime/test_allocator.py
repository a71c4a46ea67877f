"""retain_freed_memory: large blocks come from malloc's heap (the ``[heap]`` mapping of
``/proc/self/maps``) instead of a mapping of their own, which is what lets freed blocks
be reused warm; checked in fresh processes, since it is a process setting, against the
default, where the same block gets its own mapping."""

import subprocess
import sys
from pathlib import Path

import pytest

from ignn_pyg.runtime.allocator import glibc_mallopt

CHILD = """
import sys, torch
from ignn_pyg.runtime.allocator import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
block = torch.ones(256 << 18)  # 256 MiB of float32
address = block.data_ptr()
for line in open("/proc/self/maps"):
    span, *rest = line.split()
    start, end = (int(x, 16) for x in span.split("-"))
    if start <= address < end:
        print(rest[-1] if len(rest) == 5 else "anonymous")
"""


def mapping_of_a_large_block(mode: str) -> str:
    result = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(
    glibc_mallopt() is None or not Path("/proc/self/maps").exists(), reason="needs glibc's mallopt and /proc"
)
def test_large_blocks_come_from_the_heap_only_when_retained():
    assert mapping_of_a_large_block("default") == "anonymous"
    assert mapping_of_a_large_block("retain") == "[heap]"
