"""With the processor down, the training script behaves exactly as without us."""

from __future__ import annotations

from tests.helpers import governed_env, run_training


def test_processor_down_changes_neither_exit_code_nor_stdout(tmp_path, unused_port):
    env = governed_env(f"127.0.0.1:{unused_port}", LOG_CALLS="10", TRAIN_SECONDS="0.5")
    plain = run_training("train_basic.py", tmp_path / "plain", env, instrumented=False)
    governed = run_training("train_basic.py", tmp_path / "governed", env)
    assert plain.returncode == governed.returncode == 0, governed.result.stderr
    assert governed.result.stdout == plain.result.stdout == "done: 10 steps\n"
    # Told once, on stderr, and never raised.
    assert governed.result.stderr.count("governance API at") == 1
    assert governed.result.stderr.count("cannot export W&B telemetry") == 1
    assert "Traceback" not in governed.result.stderr


def test_failing_script_fails_the_same_way_with_the_processor_down(tmp_path, unused_port):
    env = governed_env(f"127.0.0.1:{unused_port}")
    plain = run_training("train_raises.py", tmp_path / "plain", env, instrumented=False)
    governed = run_training("train_raises.py", tmp_path / "governed", env)
    assert plain.returncode == governed.returncode == 1
    assert governed.result.stdout == plain.result.stdout
    assert governed.result.stderr.count("RuntimeError: diverged at step 5") == 1
