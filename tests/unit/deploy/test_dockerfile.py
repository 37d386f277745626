"""The image: multi-stage, slim, non-root (the UID the manifests run as), no build tools in the
final stage, one entrypoint serving every command; the build context leaves local state out."""

import re

from fixtures.deploy import ROOT, find, pod_spec

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stages():
    parts = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]
    return ["FROM " + p for p in parts]


def test_multi_stage_with_build_tools_only_in_the_builder():
    build, final = stages()
    assert " AS build" in build.splitlines()[0]
    assert "build-essential" in build
    assert "apt-get install" not in final and "build-essential" not in final and "pip install" not in final
    assert "COPY --from=build /opt/cloudmart /opt/cloudmart" in final
    assert re.search(r"^ARG PYTHON_IMAGE=python:[\d.]+-slim", DOCKERFILE, re.M)


def test_final_stage_is_non_root_with_the_manifests_uid(rendered):
    final = stages()[-1]
    user = re.search(r"^USER (\d+):(\d+)$", final, re.M)
    assert user and user.group(1) != "0"
    dep = find(rendered["lab"], "Deployment", "order-service", "cloudmart")
    assert str(pod_spec(dep)["securityContext"]["runAsUser"]) == user.group(1)


def test_one_entrypoint_and_the_runtime_files_the_services_read():
    final = stages()[-1]
    assert 'ENTRYPOINT ["cloudmart"]' in final
    assert "COPY --chown=root:root policies ./policies" in final
    assert "COPY --chown=root:root migrations ./migrations" in final
    assert "WORKDIR /app" in final
    assert "CLOUDMART_MODE=distributed" in final and "CLOUDMART_HOST=0.0.0.0" in final


def test_build_context_excludes_local_state_and_policy_tests():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".tools", ".cloudmart", "tests", "policies/**/*_test.rego"):
        assert entry in ignored
