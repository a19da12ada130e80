"""What a figure was measured on: CPU model and the flags that decide kernel speed, threads, library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Dict, List

#: CPU flags that change which kernels run (and how fast): vector width and native bf16 / AMX
FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "fma")


def _cpuinfo() -> Dict[str, str]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    info: Dict[str, str] = {}
    for line in lines:
        if ":" in line:
            key, value = (part.strip() for part in line.split(":", 1))
            info.setdefault(key, value)
    return info


def physical_cores() -> int:
    """Physical cores (without SMT siblings) available to this process."""
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in available:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def machine_info(device: str = "cpu") -> Dict[str, object]:
    """CPU model and flags, logical and physical cores, torch's thread counts, library versions, the GPU."""
    import numpy
    import torch
    import torchvision

    cpu = _cpuinfo()
    flags: List[str] = cpu.get("flags", "").split()
    info: Dict[str, object] = {
        "cpu": cpu.get("model name") or platform.processor() or platform.machine(),
        "flags": [flag for flag in FLAGS_OF_INTEREST if flag in flags],
        "logical_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "physical_cores": physical_cores(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
        "numpy": numpy.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def machine_line(info: Dict[str, object]) -> str:
    """One line for a table caption: ``AMD EPYC (avx2, avx512f, avx512_bf16), 2 cores, 2 torch threads, ...``."""
    flags = ", ".join(info["flags"]) or "no AVX2"
    gpu = f", {info['gpu']} (CUDA {info['cuda']})" if "gpu" in info else ""
    return (f"{info['cpu']} ({flags}), {info['physical_cores']} physical cores / {info['logical_cpus']} logical, "
            f"{info['torch_threads']} torch threads{gpu}; Python {info['python']}, torch {info['torch']}, "
            f"torchvision {info['torchvision']}")
