"""Settings come from the environment; the demo secret key is announced."""

from __future__ import annotations

import logging

import pytest

from contracts import demo
from gateway.core.config import InsecureSettingsError, Settings, check_secrets


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
            Settings(secret_key="a-real-secret-from-the-environment", admin_password="x" * 12), "0.0.0.0"
        )
        assert caplog.text == ""


def test_comma_list_target_names_each_replica() -> None:
    assert Settings(serving_target="a:8500, b:8510,").serving_replicas == ["a:8500", "b:8510"]


def test_the_checked_address_is_the_one_bound() -> None:
    settings = Settings(secret_key=demo.SECRET_KEY, gateway_host="0.0.0.0")
    with pytest.raises(InsecureSettingsError, match=r"Refusing to start on 0\.0\.0\.0"):
        check_secrets(settings, settings.gateway_host)
    for host in ("", "::", "10.0.0.5", "gateway.example.org"):
        with pytest.raises(InsecureSettingsError):
            check_secrets(settings, host)
    check_secrets(settings, "::1")
    assert (
        Settings(gateway_host="0.0.0.0").http_bounds().header_timeout
        == Settings().http_header_timeout_seconds
    )
