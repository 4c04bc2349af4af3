"""pytest plugin for scripts/test --stack=compose (loaded with `-p no:docker -p compose_plugin`): the
`docker_services` fixture tests/conftest.py's compose mode asks for, pointing at the compose project
scripts/test started or found running (compose_project.py). pytest-docker's own fixture would start a
second project under another name, whose ports collide with this one's, and would take it down
before its logs could be saved.
"""
import pytest
from pytest_docker.plugin import DockerComposeExecutor, Services

import compose_project


@pytest.fixture(scope="session")
def docker_compose_project_name():
    return compose_project.model()["name"]


@pytest.fixture(scope="session")
def docker_services(docker_compose_project_name):
    """pytest-docker's Services for the running project: no setup, no cleanup (scripts/test owns both)."""
    if not compose_project.running():
        pytest.fail("the compose project is not running: start the tests with scripts/test --stack=compose")
    executor = DockerComposeExecutor(f"docker compose --project-directory {compose_project.ROOT}",
                                     [str(compose_project.ROOT / "compose.yaml")], docker_compose_project_name)
    return Services(executor)
