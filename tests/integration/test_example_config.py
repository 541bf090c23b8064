"""The example configuration is a real Alertmanager 0.25 configuration: its own tool accepts it."""

import shutil
import subprocess

import pytest

from pipeline.settings import Settings


def test_amtool_accepts_the_example_config():
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is missing: apt-get install -y prometheus-alertmanager (deploy/local/setup.sh does)")
    result = subprocess.run([amtool, "check-config", str(Settings().alertmanager_config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
