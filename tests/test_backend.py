"""How provador sets up Keras before it loads: the backend and XLA's CPU flags."""

import os
import subprocess
import sys
from importlib import metadata

import pytest

FLAG = "--xla_cpu_experimental_ynn_fusion_type="
SHOW = "import os, provador._keras; print(os.environ.get('XLA_FLAGS', ''))"


def xla_flags_after_import(**env) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PROVADOR_XLA_DEFAULTS")}
    environment.update(KERAS_BACKEND="jax", **env)
    result = subprocess.run([sys.executable, "-c", SHOW], env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


@pytest.mark.skipif(not metadata.version("jaxlib").startswith("0.10."), reason="the flag is only set on jaxlib 0.10")
def test_convolution_flag_is_added_kept_with_the_users_flags_and_can_be_turned_off():
    assert xla_flags_after_import() == FLAG
    assert (
        xla_flags_after_import(XLA_FLAGS="--xla_cpu_enable_fast_math=false")
        == f"--xla_cpu_enable_fast_math=false {FLAG}"
    )
    assert xla_flags_after_import(PROVADOR_XLA_DEFAULTS="1") == ""
    # A user who chose a value for the same flag keeps it.
    assert (
        xla_flags_after_import(XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=x")
        == "--xla_cpu_experimental_ynn_fusion_type=x"
    )
