"""Debian's docker-compose (v1.29, the Python one; file format 2.4 is the one with `runtime:`)
starting a two-service project whose services name the runtime under test."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

import engine_harness as eh

pytestmark = pytest.mark.engines

COMPOSE_FILE = f"""\
version: "2.4"
services:
  web:
    image: {eh.IMAGE}
    runtime: {eh.RUNTIME_NAME}
    command: ["sh", "-c", "mkdir /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
  client:
    image: {eh.IMAGE}
    runtime: {eh.RUNTIME_NAME}
    depends_on: [web]
    environment:
      TARGET: http://web:8080/index.html
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
"""


def test_compose_two_services(docker, name):
    if not shutil.which(eh.COMPOSE):
        pytest.skip("docker-compose is not installed")
    project = name.replace("-", "")[:30]
    d = tempfile.mkdtemp(dir=docker.root)
    with open(os.path.join(d, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE_FILE)
    try:
        docker.compose(d, "-p", project, "up", "-d")
        ids = docker.compose(d, "-p", project, "ps", "-q").stdout.split()
        assert len(ids) == 2
        for cid in ids:
            info = docker.inspect(cid)
            assert info["HostConfig"]["Runtime"] == eh.RUNTIME_NAME
            assert info["State"]["Running"]
        # The client reaches the web service by its name on the project network.
        r = docker.compose(d, "-p", project, "exec", "-T", "client", "sh", "-c",
                           'for i in $(seq 50); do wget -qO- "$TARGET" && exit 0; sleep 0.1; done; exit 1')
        assert r.stdout == "hello-from-web\n"
        docker.compose(d, "-p", project, "stop", "-t", "1")
        for cid in ids:
            assert docker.inspect(cid)["State"]["Status"] == "exited"
    finally:
        docker.compose(d, "-p", project, "down", "-v", "-t", "1", check=False)
    assert docker.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.strip() == ""
