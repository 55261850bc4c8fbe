"""How provador sets up the backend: XLA's CPU convolution flag, only for models with convolutions."""

import os
import subprocess
import sys
from importlib import metadata

import pytest

FLAG = "--xla_cpu_experimental_ynn_fusion_type="
jaxlib_010 = pytest.mark.skipif(
    not metadata.version("jaxlib").startswith("0.10."), reason="the flag is only set on jaxlib 0.10"
)


def xla_flags_after(code: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PROVADOR_XLA_DEFAULTS")}
    environment.update(KERAS_BACKEND="jax", **env)
    script = (
        f"import os\nfrom provador.models import build_model\n{code}\nprint('FLAGS=' + os.environ.get('XLA_FLAGS', ''))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split("FLAGS=")[-1].strip()


@jaxlib_010
def test_a_cnn_gets_multithreaded_convolutions_an_mlp_keeps_xla_defaults():
    assert xla_flags_after("build_model('mlp')") == ""  # the MLP is faster and bit-stable without it
    assert xla_flags_after("build_model('cnn')") == FLAG
    user = "--xla_cpu_enable_fast_math=false"
    assert xla_flags_after("build_model('cnn-bn')", XLA_FLAGS=user) == f"{user} {FLAG}"


@jaxlib_010
def test_the_flag_is_not_set_when_turned_off_chosen_by_the_user_or_too_late():
    assert xla_flags_after("build_model('cnn')", PROVADOR_XLA_DEFAULTS="1") == ""
    mine = "--xla_cpu_experimental_ynn_fusion_type=x"
    prefer = "from provador._keras import prefer_multithreaded_convolutions\nprefer_multithreaded_convolutions()"
    assert xla_flags_after(prefer, XLA_FLAGS=mine) == mine  # the user's own value is left alone
    # Once JAX has computed something, XLA has read its flags: setting one then would be a lie.
    assert xla_flags_after("build_model('mlp')(__import__('numpy').zeros((1, 28, 28)))\nbuild_model('cnn')") == ""
