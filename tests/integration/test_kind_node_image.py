"""Which node image a cluster of another Kubernetes boots (harness/stack/kind/nodeimage.py), decided against real
registries on loopback: kind's official image when Docker can pull it at its digest, ours when the registry does
not answer. No internet: the "official" image is one of ours pushed under kindest/node (only the decision is
tested here; booting a cluster on it is not)."""

from __future__ import annotations

import pytest

from harness.stack import binaries
from harness.stack.kind import images, nodeimage
from harness.stack.kind.engine import DockerEngine
from harness.stack.mirror import LocalRegistry, docker_archive_to_oci, push_image
from harness.stack.ports import LOOPBACK, free_port

pytestmark = pytest.mark.kind  # Docker and the images

OTHER = binaries.kubernetes_versions()[-1]
SMALL = images.COMPONENT_IMAGES[0].tag  # pause: the smallest of our images


def test_the_official_node_image_is_pulled_when_its_registry_answers_and_ours_used_when_it_does_not(tmp_path):
    with DockerEngine() as engine, LocalRegistry(tmp_path / "registry") as registry:
        engine.docker("save", "-o", str(tmp_path / "small.tar"), SMALL)
        digest = push_image(registry.client(), "kindest/node", OTHER, *docker_archive_to_oci(tmp_path / "small.tar"))
        reference = f"{registry.host}/kindest/node:{OTHER}@{digest}"
        try:
            assert nodeimage.choose(engine, OTHER, reference) == nodeimage.NodeImage(reference, "official", "pulled")
            assert engine.docker("image", "inspect", reference, check=False).returncode == 0
            registry.stop()  # now only Docker's copy can answer
            assert nodeimage.choose(engine, OTHER, reference).reason == "already pulled"
        finally:
            engine.docker("image", "rm", reference, check=False)
        silent = f"{LOOPBACK}:{free_port()}/kindest/node:{OTHER}@sha256:{'0' * 64}"  # nothing listens there
        chosen = nodeimage.choose(engine, OTHER, silent)
        assert (chosen.tag, chosen.source) == (images.node_image(OTHER), "built here")
        assert chosen.reason.startswith(f"`docker pull {silent}` failed: ") and "connection refused" in chosen.reason
        assert engine.docker("image", "inspect", silent, check=False).returncode != 0


def test_without_a_pinned_official_image_ours_is_booted_and_docker_is_not_asked():
    assert nodeimage.official(OTHER) is None  # versions.toml pins none yet (it says why)
    chosen = nodeimage.choose(None, OTHER)  # no engine: nothing may be pulled
    assert (chosen.tag, chosen.source) == (images.node_image(OTHER), "built here")
    assert "no official kind node image is pinned" in chosen.reason
