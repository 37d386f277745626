"""Shared test configuration. Each real server has its own fixture module under tests/fixtures/."""

pytest_plugins = [
    "fixtures.servers",
    "fixtures.deploy",
    "fixtures.kube_api",
    "fixtures.kafka",
    "fixtures.smtp",
    "fixtures.redis",
    "fixtures.postgres",
    "fixtures.prometheus",
]
