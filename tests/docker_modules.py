"""The services the tests need: one named by an environment variable, else one started
by the helpers under docker/ (the local Kafka broker, the throwaway PostgreSQL server),
which are loaded by path: the top-level name ``docker`` is the Docker SDK's."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

DOCKER_DIR = Path(__file__).resolve().parents[1] / "docker"


def load_docker_module(name: str, relative_path: str) -> ModuleType:
    """``docker/<relative_path>`` as module ``name``, loaded once per interpreter."""
    if name in sys.modules:
        return sys.modules[name]
    path = DOCKER_DIR / relative_path
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


def named_or_started(variable: str, start: Callable[[ExitStack], str]) -> Iterator[str]:
    """For a session fixture: the address in environment ``variable`` if it is set, else
    the address of a service that ``start`` brings up, stopped by the callbacks ``start``
    leaves on the stack once the fixture is done."""
    with ExitStack() as cleanup:
        yield os.environ.get(variable) or start(cleanup)
