"""How provador sets up the backend: XLA's CPU convolution flag, only for models with convolutions."""

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

pytestmark = [
    pytest.mark.slow,  # a fresh Keras/JAX process: XLA reads its flags once per process
    pytest.mark.xdist_group("backend-flags"),  # that process once, on one worker (`--dist loadgroup`)
]
FLAG = "--xla_cpu_experimental_ynn_fusion_type="
jaxlib_010 = pytest.mark.skipif(
    not metadata.version("jaxlib").startswith("0.10."), reason="the flag is only set on jaxlib 0.10"
)

# Every case in one fresh process (importing Keras and JAX costs seconds each time), in an order
# that keeps JAX from computing anything until the last two: XLA reads its flags once.
SCRIPT = """
import json, os
import numpy as np
from provador.base._keras import prefer_multithreaded_convolutions
from provador.core.models import build_model, prepare_backend_for

def after(action, flags="", **env):
    os.environ["XLA_FLAGS"] = flags
    os.environ.update(env)
    action()
    for key in env:
        del os.environ[key]
    return os.environ.get("XLA_FLAGS", "")

user, mine = "--xla_cpu_enable_fast_math=false", "--xla_cpu_experimental_ynn_fusion_type=x"
print(json.dumps({
    "mlp": after(lambda: prepare_backend_for("mlp")),
    "turned off": after(lambda: prepare_backend_for("cnn"), PROVADOR_XLA_DEFAULTS="1"),
    "the user's own value": after(prefer_multithreaded_convolutions, mine),
    "beside the user's flags": after(lambda: prepare_backend_for("cnn-bn"), user),
    "building a cnn": after(lambda: build_model("cnn")),
    "too late": after(lambda: (build_model("mlp")(np.zeros((1, 28, 28))), build_model("cnn"))),
}))
"""


@pytest.fixture(scope="module")
def flags_after() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PROVADOR_XLA_DEFAULTS")}
    environment["KERAS_BACKEND"] = "jax"
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=environment, capture_output=True, text=True,
                            timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@jaxlib_010
def test_a_cnn_gets_multithreaded_convolutions_an_mlp_keeps_xla_defaults(flags_after):
    assert flags_after["mlp"] == ""  # the MLP is faster and bit-stable without it
    assert flags_after["building a cnn"] == FLAG
    assert flags_after["beside the user's flags"] == f"--xla_cpu_enable_fast_math=false {FLAG}"


@jaxlib_010
def test_the_flag_is_not_set_when_turned_off_chosen_by_the_user_or_too_late(flags_after):
    assert flags_after["turned off"] == ""
    assert flags_after["the user's own value"] == "--xla_cpu_experimental_ynn_fusion_type=x"  # left alone
    # Once JAX has computed something, XLA has read its flags: setting one then would be a lie.
    assert flags_after["too late"] == ""
