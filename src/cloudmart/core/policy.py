"""Application authorization in Rego (`policies/authz/*.rego`, package `cloudmart.authz`),
evaluated in-process with regopy; the same files run unchanged in an OPA sidecar.

Input: {"subject": {"sub", "roles"}, "action", "resource": {"type", "owner"}};
output: `allow` (bool) and `reason` (string).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from regopy import Interpreter

from cloudmart.core.paths import project_dir

QUERY = "x = {\"allow\": data.cloudmart.authz.allow, \"reason\": data.cloudmart.authz.reason}"


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str


class PolicyError(RuntimeError):
    pass


class PolicyEngine:
    def __init__(self, modules: Mapping[str, str]) -> None:
        if not modules:
            raise PolicyError("no Rego modules to load")
        self._modules = dict(modules)
        self._lock = threading.Lock()
        self._interpreter = self._new_interpreter()

    @classmethod
    def from_dir(cls, directory: Path | None = None) -> PolicyEngine:
        directory = directory or project_dir("policies") / "authz"
        files = sorted(p for p in directory.glob("*.rego") if not p.name.endswith("_test.rego"))
        if not files:
            raise PolicyError(f"no .rego policies in {directory}")
        return cls({p.stem: p.read_text() for p in files})

    def _new_interpreter(self) -> Interpreter:
        interp = Interpreter()
        for name, src in self._modules.items():
            interp.add_module(name, src)
        return interp

    def evaluate(self, input_doc: Mapping[str, Any]) -> Decision:
        with self._lock:  # one interpreter, reused: set_input + query must not interleave
            self._interpreter.set_input_term(json.dumps(input_doc))
            out = self._interpreter.query(QUERY)
        if not out.ok():
            raise PolicyError(f"policy evaluation failed: {out}")
        result = json.loads(str(out))["bindings"]["x"]
        return Decision(bool(result.get("allow", False)), str(result.get("reason", "")))

    def decide(self, principal: Any, action: str, resource: Mapping[str, Any]) -> Decision:
        subject = {"sub": principal.sub, "roles": list(principal.roles)} if principal is not None else {"sub": "", "roles": []}
        resource_doc = {k: v for k, v in resource.items() if v is not None}
        return self.evaluate({"subject": subject, "action": action, "resource": resource_doc})


@lru_cache(maxsize=1)
def default_engine() -> PolicyEngine:
    return PolicyEngine.from_dir()
