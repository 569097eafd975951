"""Settings come from the environment; the demo secret key is announced."""

from __future__ import annotations

import logging

import pytest

from contracts import demo
from gateway.core.bind import bind_host
from gateway.core.config import Settings, check_secrets


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/app",
        "SERVING_TARGET": "dns:///serving:8500",
        "MODEL_NAME": "efficientnet-lite0",
        "UPLOAD_DIR": "/data/uploads",
        "SECRET_KEY": "s" * 40,
        "MAX_UPLOAD_BYTES": "1234",
        "ADMIN_EMAIL": "root@example.org",
        "ADMIN_PASSWORD": "pw",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.database_url, settings.serving_target, settings.model_name) == (
        env["DATABASE_URL"],
        env["SERVING_TARGET"],
        env["MODEL_NAME"],
    )
    assert str(settings.upload_dir) == "/data/uploads"
    assert settings.max_upload_bytes == 1234
    assert (settings.admin_email, settings.admin_password) == ("root@example.org", "pw")


def test_demo_secrets_are_announced_on_loopback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        check_secrets(Settings(secret_key=demo.SECRET_KEY), "127.0.0.1")
        assert "SECRET_KEY is the built-in demo key" in caplog.text
        assert "ADMIN_PASSWORD is the default" in caplog.text
        caplog.clear()
        check_secrets(
            Settings(secret_key="a-real-secret-from-the-environment", admin_password="x" * 12), None
        )
        assert caplog.text == ""


def test_comma_list_target_names_each_replica() -> None:
    assert Settings(serving_target="a:8500, b:8510,").serving_replicas == ["a:8500", "b:8510"]


def test_the_bound_address_comes_from_uvicorns_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UVICORN_HOST", raising=False)
    assert bind_host(["/venv/bin/uvicorn", "gateway.main:app", "--host", "0.0.0.0"]) == "0.0.0.0"
    assert bind_host(["/venv/lib/uvicorn/__main__.py", "gateway.main:app", "--host=::"]) == "::"
    assert bind_host(["/venv/bin/uvicorn", "gateway.main:app"]) == "127.0.0.1"  # uvicorn's default
    assert bind_host(["/venv/bin/pytest"]) is None  # in-process: nothing is bound
    monkeypatch.setenv("UVICORN_HOST", "10.0.0.5")
    assert bind_host(["/venv/bin/uvicorn", "gateway.main:app"]) == "10.0.0.5"
    assert bind_host(["/venv/bin/uvicorn", "gateway.main:app", "--host", "127.0.0.1"]) == "127.0.0.1"
